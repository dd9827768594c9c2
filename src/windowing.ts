/**
 * Which rows of a long list to render: those in the viewport plus a few on
 * either side, and the space the others take.  Pure: runs under plain Node.
 */

export interface IWindow {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Pixels above `start` (the unrendered rows' height). */
  before: number;
  /** Pixels below `end`. */
  after: number;
}

/**
 * The rows to render for a list scrolled to `scrollTop` in a viewport of
 * `viewport` pixels.  `heights[i]` is row i's measured height, undefined while
 * unmeasured (then `estimate` stands in), so the window is right once measured
 * and close before.  `overscan` rows are added on each side, so keyboard focus
 * and small scrolls find their neighbour already there.
 */
export function visibleRows(
  heights: ReadonlyArray<number | undefined>,
  estimate: number,
  scrollTop: number,
  viewport: number,
  overscan = 3
): IWindow {
  const count = heights.length;
  const top = Math.max(0, scrollTop);
  const bottom = top + Math.max(0, viewport);
  let offset = 0;
  let first = count;
  let last = count;
  for (let i = 0; i < count; i++) {
    const next = offset + (heights[i] ?? estimate);
    if (first === count && next > top) {
      first = i;
    }
    if (offset >= bottom) {
      last = i;
      break;
    }
    offset = next;
  }
  // Scrolled past the end (the list shrank): show its tail.
  if (first === count) {
    first = Math.max(0, count - 1);
  }
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, Math.max(last, first + 1) + overscan);
  let before = 0;
  let after = 0;
  for (let i = 0; i < count; i++) {
    if (i < start) {
      before += heights[i] ?? estimate;
    } else if (i >= end) {
      after += heights[i] ?? estimate;
    }
  }
  return { start: count ? start : 0, end: count ? end : 0, before, after };
}

/** The stand-in height of unmeasured rows: the mean of the measured ones, else `fallback`. */
export function estimateHeight(measured: Iterable<number>, fallback: number): number {
  let sum = 0;
  let n = 0;
  for (const h of measured) {
    sum += h;
    n++;
  }
  return n ? sum / n : fallback;
}
