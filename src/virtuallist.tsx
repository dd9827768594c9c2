/**
 * A list that renders only the rows in view (plus a few either side, see
 * windowing.ts), with the space of the others above and below it, so a list of
 * hundreds of clusters costs the DOM of a screenful.  Row heights are measured
 * once rendered; unmeasured rows count as the mean of the measured ones.
 */
import * as React from 'react';

import { estimateHeight, visibleRows } from './windowing';

export interface IVirtualListProps<T> {
  items: ReadonlyArray<T>;
  keyOf: (item: T) => string;
  /** One row: an element that is a direct child of the list (measured as such). */
  renderRow: (item: T, index: number) => JSX.Element;
  /** The element that scrolls (an ancestor of the list). */
  scroller: HTMLElement;
  /** Row height before any is measured, in pixels. */
  estimate: number;
  className?: string;
  role?: string;
  label?: string;
}

export function VirtualList<T>(props: IVirtualListProps<T>): JSX.Element {
  const { items, keyOf, scroller, estimate } = props;
  const wrapper = React.useRef<HTMLDivElement>(null);
  const list = React.useRef<HTMLUListElement>(null);
  const heights = React.useRef(new Map<string, number>()).current;
  const [, rerender] = React.useReducer((n: number) => n + 1, 0);

  // Where the viewport is over the list: read from the DOM when asked, not kept in state,
  // so a scroll re-renders only when it changes which rows are shown.
  const view = () => {
    const offset = wrapper.current ? wrapper.current.offsetTop : 0;
    return {
      top: scroller.scrollTop - offset,
      // Hidden (not laid out yet): a window's height of rows, corrected once shown.
      height: scroller.clientHeight || window.innerHeight
    };
  };
  const windowFor = (v: { top: number; height: number }) => {
    const rowHeights = items.map(item => heights.get(keyOf(item)));
    return visibleRows(rowHeights, estimateHeight(heights.values(), estimate), v.top, v.height);
  };
  const shown = windowFor(view());
  const range = React.useRef(shown);
  range.current = shown;

  // A scroll or resize re-renders only when it changes which rows are shown.
  const onViewChange = React.useRef(() => {});
  onViewChange.current = () => {
    const next = windowFor(view());
    if (next.start !== range.current.start || next.end !== range.current.end) {
      rerender();
    }
  };
  React.useEffect(() => {
    const onChange = () => onViewChange.current();
    scroller.addEventListener('scroll', onChange, { passive: true });
    const resize = new ResizeObserver(onChange);
    resize.observe(scroller);
    return () => {
      scroller.removeEventListener('scroll', onChange);
      resize.disconnect();
    };
  }, [scroller]);

  // Measure the rendered rows (after layout, before paint); a changed height re-renders.
  React.useLayoutEffect(() => {
    if (heights.size > 2 * items.length + 50) {
      // Forget the rows that left the list, now and then rather than on every render.
      const present = new Set(items.map(keyOf));
      [...heights.keys()].filter(k => !present.has(k)).forEach(k => heights.delete(k));
    }
    const rows = list.current?.children;
    if (!rows || !rows.length) {
      return;
    }
    const gap = parseFloat(getComputedStyle(rows[0]).marginBottom) || 0;
    let changed = false;
    for (let i = 0; i < rows.length && shown.start + i < items.length; i++) {
      const height = (rows[i] as HTMLElement).offsetHeight;
      if (!height) {
        return; // hidden: nothing is laid out
      }
      const key = keyOf(items[shown.start + i]);
      if (Math.abs((heights.get(key) ?? -1) - height - gap) > 0.5) {
        heights.set(key, height + gap);
        changed = true;
      }
    }
    if (changed) {
      rerender();
    }
  });

  return (
    <div ref={wrapper} className="dk8s-VirtualList">
      <div style={{ height: shown.before }} />
      <ul ref={list} className={props.className} role={props.role} aria-label={props.label}>
        {items.slice(shown.start, shown.end).map((item, i) => props.renderRow(item, shown.start + i))}
      </ul>
      <div style={{ height: shown.after }} />
    </div>
  );
}
