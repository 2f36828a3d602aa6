import { useEffect, useState } from 'preact/hooks';
import { follow, type ApiProblem } from './api.ts';

/** Where the page is: `#/`, `#/rollouts`, `#/rollouts/ID`, `#/devices/ID`, `#/keys`. */
export function useRoute(): string[] {
  const parts = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(parts());
  useEffect(() => {
    const changed = () => setRoute(parts());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export interface Live<T> {
  data?: T;
  error?: ApiProblem;
  /** Loads again now (after a change this page made). */
  refresh: () => Promise<void>;
}

/** Loads `load()` now and again on each live event of `kinds` (at most once a second). */
export function useLive<T>(load: () => Promise<T>, kinds: string, deps: unknown[]): Live<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiProblem }>({});
  const refresh = () =>
    load().then(
      (data) => setState({ data }),
      (error: unknown) => setState({ error: error as ApiProblem }),
    );
  useEffect(() => {
    let queued = false;
    void refresh();
    const stop = follow(kinds, () => {
      if (queued) return;
      queued = true;
      setTimeout(() => {
        queued = false;
        void refresh();
      }, 1000);
    });
    return stop;
  }, deps);
  return { ...state, refresh };
}
