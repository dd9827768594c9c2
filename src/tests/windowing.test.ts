import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { estimateHeight, visibleRows } from '../windowing';

const rows = (n: number, h: number | undefined = 100) => new Array<number | undefined>(n).fill(h);

test('at the top: the rows in view plus the overscan below', () => {
  // 500 rows of 100 px, a 350 px viewport: rows 0-3 are (partly) visible.
  assert.deepEqual(visibleRows(rows(500), 100, 0, 350, 2), { start: 0, end: 6, before: 0, after: 494 * 100 });
});

test('scrolled: overscan on both sides, the rest as space', () => {
  // scrollTop 1050 cuts row 10; the viewport ends at 1400, the start of row 14.
  const w = visibleRows(rows(500), 100, 1050, 350, 2);
  assert.deepEqual(w, { start: 8, end: 16, before: 800, after: (500 - 16) * 100 });
  // The spaces and the rendered rows add up to the whole list.
  assert.equal(w.before + (w.end - w.start) * 100 + w.after, 500 * 100);
});

test('measured heights are used, unmeasured rows take the estimate', () => {
  const heights = new Array<number | undefined>(10).fill(undefined);
  heights[0] = 300;
  heights[1] = 50;
  // Rows 0 (0-300), 1 (300-350), 2 (350-430 by the estimate of 80): a 120 px viewport at 280.
  assert.deepEqual(visibleRows(heights, 80, 280, 120, 0), { start: 0, end: 3, before: 0, after: 7 * 80 });
  assert.deepEqual(visibleRows(heights, 80, 310, 30, 0), { start: 1, end: 2, before: 300, after: 8 * 80 });
});

test('few rows: everything is rendered', () => {
  assert.deepEqual(visibleRows(rows(5), 100, 0, 900), { start: 0, end: 5, before: 0, after: 0 });
});

test('empty list, and a scroll past the end after the list shrank', () => {
  assert.deepEqual(visibleRows([], 100, 0, 900), { start: 0, end: 0, before: 0, after: 0 });
  assert.deepEqual(visibleRows(rows(10), 100, 5000, 300, 1), { start: 8, end: 10, before: 800, after: 0 });
});

test('a hidden list (no viewport) still renders its first row', () => {
  assert.deepEqual(visibleRows(rows(50), 100, 0, 0, 0), { start: 0, end: 1, before: 0, after: 4900 });
});

test('the estimate is the mean of the measured heights', () => {
  assert.equal(estimateHeight([100, 120, 140], 90), 120);
  assert.equal(estimateHeight([], 90), 90);
});
