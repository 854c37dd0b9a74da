/** Small formatting helpers shared by the pages. */

/** 75.4 -> "1:15", 3725 -> "1:02:05". */
export function duration(seconds: number | null | undefined): string {
  if (seconds == null || !isFinite(seconds) || seconds < 0) return "";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** "2023-05-01" -> "1 May 2023" (a bare year stays as it is). */
export function date(value: string | null | undefined): string {
  if (!value) return "";
  if (/^\d{4}$/.test(value)) return value;
  const d = new Date(value.length === 10 ? value + "T00:00:00Z" : value);
  if (isNaN(d.getTime())) return value;
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: value.length === 10 ? "UTC" : undefined });
}

/** "3 minutes ago" style, for timestamps. */
export function ago(value: string | null | undefined): string {
  if (!value) return "never";
  const then = new Date(value).getTime();
  if (isNaN(then)) return value;
  const secs = Math.round((Date.now() - then) / 1000);
  if (secs < 45) return "just now";
  const units: [number, Intl.RelativeTimeFormatUnit][] = [[60, "minute"], [3600, "hour"], [86400, "day"], [2592000, "month"], [31536000, "year"]];
  let unit: Intl.RelativeTimeFormatUnit = "minute";
  let size = 60;
  for (const [s, u] of units) if (secs >= s) [size, unit] = [s, u];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(secs / size), unit);
}

export function bytes(n: number | null | undefined): string {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function count(n: number, one: string, many = one + "s"): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** A resolution label: 1080p, 4K ... */
export function resolution(width?: number | null, height?: number | null): string {
  if (!width || !height) return "";
  const short = Math.min(width, height);
  if (short >= 2000) return "4K";
  if (short >= 1400) return "1440p";
  return `${short}p`;
}

/** A stable hue for placeholders, from a video hash. */
export function hue(seed: string): number {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) >>> 0;
  return h % 360;
}

export function initials(text: string): string {
  const words = text.split(/[\s._-]+/).filter((w) => /\p{L}|\p{N}/u.test(w));
  return (words.slice(0, 2).map((w) => [...w][0]).join("") || "?").toUpperCase();
}
