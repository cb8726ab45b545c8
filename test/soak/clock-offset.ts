/**
 * Preloaded into one replica (`node --import ./test/soak/clock-offset.ts src/main.ts daemon`)
 * to run it with a wall clock SOAK_CLOCK_OFFSET_MS off, as on a host whose NTP is broken:
 * Date.now() and new Date() move; timers and performance.now() (monotonic) do not.
 * (Debian's faketime would do it from outside, but is not installed on these machines.)
 */
const offsetMs = Number(process.env.SOAK_CLOCK_OFFSET_MS ?? 0);
const RealDate = Date;

class OffsetDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + offsetMs);
    else super(...(args as [string]));
  }

  static override now(): number {
    return RealDate.now() + offsetMs;
  }
}

if (offsetMs !== 0) globalThis.Date = OffsetDate as DateConstructor;
