/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Runs `body` `iterations` times per round and returns each round's mean time per iteration, in ms. */
export async function timeRounds(rounds: number, iterations: number, body: () => unknown): Promise<number[]> {
  const perRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await body();
    perRound.push(Number(process.hrtime.bigint() - started) / 1e6 / iterations);
  }
  return perRound;
}
