/** Svelte actions shared by pages. */

interface InviewOptions {
  /** Called whenever the element is (near) the viewport. */
  onvisible: () => void;
  /** Change it (e.g. to the number of items loaded) to check again after new content came in. */
  key?: unknown;
}

/** Infinite scroll sentinels: call `onvisible` while the element is within 600 px of the viewport. */
export function inview(node: HTMLElement, options: InviewOptions) {
  let current = options;
  const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && current.onvisible(), { rootMargin: "600px 0px" });
  observer.observe(node);
  return {
    update(next: InviewOptions) {
      const changed = next.key !== current.key;
      current = next;
      if (changed) {
        // Re-observing reports the current state again: still visible means load more.
        observer.unobserve(node);
        observer.observe(node);
      }
    },
    destroy() {
      observer.disconnect();
    },
  };
}
