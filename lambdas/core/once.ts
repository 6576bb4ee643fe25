/** Memoizes an async builder: the first call builds, every later call gets the same promise. Pure. */
export function once<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => (built ??= build());
}
