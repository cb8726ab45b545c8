/**
 * Preloaded into the replicas by `--sabotage leak` only: retains 4 MB a second, so the
 * soak's memory invariant can be seen to fail. Never loaded otherwise.
 */
const retained: Buffer[] = [];
setInterval(() => retained.push(Buffer.alloc(4 * 1024 * 1024, 1)), 1_000).unref();
