/** Seek-bar thumbnails: the WebVTT sprite index (cues pointing at sprite.jpg?v=..#xywh=x,y,w,h). */
export interface SpriteCue {
  start: number;
  end: number;
  url: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

function seconds(stamp: string): number {
  const parts = stamp.trim().split(":").map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Parse the VTT text; image references are resolved against the VTT's own URL. */
export function parseSpriteVtt(text: string, vttUrl: string): SpriteCue[] {
  const base = new URL(vttUrl, location.href);
  const cues: SpriteCue[] = [];
  const lines = text.replace(/\r/g, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i]);
    if (!m) continue;
    const ref = (lines[i + 1] || "").trim();
    const url = new URL(ref, base);
    const xywh = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(url.hash);
    url.hash = "";
    if (!xywh) continue;
    const [x, y, w, h] = xywh.slice(1).map(Number);
    cues.push({ start: seconds(m[1]), end: seconds(m[2]), url: url.href, x, y, w, h });
  }
  return cues;
}

/** The cue shown at time `t` (the last cue starting at or before it). */
export function cueAt(cues: SpriteCue[], t: number): SpriteCue | null {
  let lo = 0;
  let hi = cues.length - 1;
  let found: SpriteCue | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cues[mid].start <= t) {
      found = cues[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found ?? cues[0] ?? null;
}
