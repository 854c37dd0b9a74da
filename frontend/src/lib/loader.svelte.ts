import { isAbort } from "./api";

/**
 * One piece of remote data with its loading and error state. `run()` starts (or restarts) the
 * request; a newer run aborts the older one so a slow answer never overwrites a fresh one.
 */
export class Loader<T> {
  data = $state<T | null>(null);
  error = $state<unknown>(null);
  /** True from construction when started later: the page shows skeletons, not "nothing". */
  loading = $state(true);
  #fetch: (signal: AbortSignal) => Promise<T>;
  #controller: AbortController | null = null;

  constructor(fetcher: (signal: AbortSignal) => Promise<T>, start = true) {
    this.#fetch = fetcher;
    if (start) void this.run();
  }

  /** Load again; with `keep`, the current data stays on screen while the new data loads. */
  async run(keep = true): Promise<void> {
    this.#controller?.abort();
    const controller = (this.#controller = new AbortController());
    this.loading = true;
    this.error = null;
    if (!keep) this.data = null;
    try {
      const data = await this.#fetch(controller.signal);
      if (controller === this.#controller) this.data = data;
    } catch (err) {
      if (!isAbort(err) && controller === this.#controller) this.error = err;
    } finally {
      if (controller === this.#controller) this.loading = false;
    }
  }

  #following: Promise<void> | null = null;
  #again = false;

  /**
   * Like run(), for input that changes faster than the server answers (search as you type):
   * never more than one request at a time. A call while one is in flight lets it finish (an
   * aborted request still costs the server its work) and then loads once more, for the latest
   * state; any number of calls in between make that one request.
   */
  async follow(): Promise<void> {
    if (this.#following) {
      this.#again = true;
      return this.#following;
    }
    const loop = async () => {
      do {
        this.#again = false;
        await this.run();
      } while (this.#again);
    };
    this.#following = loop().finally(() => (this.#following = null));
    return this.#following;
  }

  readonly retry = () => void this.run(false);
}
