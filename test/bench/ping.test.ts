// popcorn ping's floor on a loaded machine (bench/ping.ts, the header): a
// floor block in which the spinning thread was descheduled measures the
// scheduler, not the floor; it is found, and a floor that stays implausible
// is reported as suspect rather than printed as a ratio below 1.
import { describe, expect, it } from "vitest";
import { floorSuspicion, IMPLAUSIBLE, implausibleBlocks } from "../../bench/ping.js";

describe("ping floor", () => {
  it("finds the blocks whose median is over 100× the best block's: the spinner was descheduled", () => {
    expect(IMPLAUSIBLE).toBe(100);
    // as seen: most blocks 0.2–0.3 µs, some a scheduler tick
    expect(implausibleBlocks([0.25, 0.3, 16006.39, 0.21, 15998, 0.29])).toEqual([2, 4]);
    expect(implausibleBlocks([0.25, 0.3, 0.21, 0.29])).toEqual([]);
    // a tcp floor that wanders by a few times is noise, not descheduling
    expect(implausibleBlocks([30, 45, 90, 31])).toEqual([]);
    expect(implausibleBlocks([30, 3001])).toEqual([1]);
    expect(implausibleBlocks([30, 3000])).toEqual([]);
  });

  it("cannot judge blocks that were all descheduled alike, nor a clock too coarse to see a round trip", () => {
    expect(implausibleBlocks([16006, 15990, 16012])).toEqual([]);
    expect(implausibleBlocks([0, 0, 0])).toEqual([]);
    expect(implausibleBlocks([0, 0.3, 31])).toEqual([2]);
    expect(implausibleBlocks([])).toEqual([]);
  });

  it("calls a floor suspect when it is above the kernels' p50 (ratio < 1) or blocks had to be dropped, and says why", () => {
    expect(floorSuspicion({ p50us: 95, floorP50us: 0.3, blocks: 10, dropped: [] })).toBeUndefined();
    expect(floorSuspicion({ p50us: 95, floorP50us: 16006.39, blocks: 10, dropped: [] })).toMatch(/floor's p50 \(16006\.39 µs\) is above the kernels' \(95 µs\)/);
    const dropped = floorSuspicion({ p50us: 95, floorP50us: 0.3, blocks: 10, dropped: [16006.391, 15998] });
    expect(dropped).toMatch(/^2 of 10 floor blocks \(medians 16006\.39 µs, 15998 µs\) stayed above 100× the best block's median .* and were left out/);
    expect(floorSuspicion({ p50us: 95, floorP50us: 160, blocks: 10, dropped: [16006] })).toContain("; the floor's p50");
  });
});
