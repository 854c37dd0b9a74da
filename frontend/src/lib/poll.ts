import { onMount } from "svelte";

/**
 * Run `tick` again and again while the component is mounted: `delay()` ms after each run
 * finished (so a slow server is never asked twice at once), skipping runs while the tab is hidden.
 */
export function every(tick: () => Promise<unknown> | unknown, delay: () => number): void {
  onMount(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const loop = async () => {
      if (!document.hidden) {
        try {
          await tick();
        } catch {
          /* the loader shows its own error */
        }
      }
      if (!stopped) timer = setTimeout(loop, delay());
    };
    timer = setTimeout(loop, delay());
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  });
}
