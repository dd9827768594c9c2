"""The sidebar and its server at 500 clusters: REST list, stream fan-out, and Chromium's render.

    python bench/sidebar_bench.py [--clusters 500] [--subscribers 1,10,50] [--updates 10]

Starts ``jupyter lab`` with the extension on the in-memory backend of ``server_bench.py`` holding
N DaskClusters (2 worker pods each; 500 clusters cannot have real schedulers on this machine,
and the API server's side of many clusters is measured by ``operator_scale.py``), then measures:

- server: ``GET /dask-k8s/clusters`` against ``GET /api/status`` (the floor of any handler);
  the stream's snapshot to a new subscriber; fan-out of one scale (``PATCH`` of a cluster, the
  sidebar's own request) to S open stream subscribers: from sending the PATCH until each has the
  ``updated`` message, against the PATCH's own round trip;
- browser (Debian's Chromium through Playwright, as ``ui-tests/``): the sidebar's first render,
  from clicking its tab (the list has arrived already: the model starts with the plugin) until
  the next frame is rendered with the list of all N clusters (all N cards in the DOM, or, once
  the list is virtualised, the cards in view, whose ``aria-setsize`` says N); the render after a page load with the sidebar open,
  from the stream's snapshot message reaching the page until that frame; and one update, from the
  ``updated`` message reaching the page until the frame after the cluster's card changed (the
  card is scrolled into view first, outside the timing: a virtualised list renders only those)
  (``performance.now()`` in the page, a MutationObserver on the list, requestAnimationFrame for
  the frame), plus the longest main-thread task around it. Targets: first render <= 300 ms,
  update <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from server_bench import free_port  # noqa: E402

NAMESPACE = "bench"  # server_bench.PopulatedBackend's
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Before any page script: timestamps of the stream's messages, by type and cluster name.
PAGE_HOOKS = """
window.__dk8s = {messages: [], longtasks: []};
// performance.now() once the next frame is rendered (style, layout and paint done): a task
// queued from requestAnimationFrame runs after that frame.
window.afterFrame = (callback) => requestAnimationFrame(() => setTimeout(() => callback(performance.now()), 0));
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    if (String(args[0]).includes('/dask-k8s/stream')) {
      this.addEventListener('message', (e) => {
        const t = performance.now();
        let type = '?', name = null;
        try { const m = JSON.parse(e.data); type = m.type; name = m.cluster ? m.cluster.name : null; } catch (_) {}
        window.__dk8s.messages.push({t, type, name, bytes: e.data.length});
      });
    }
  }
};
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__dk8s.longtasks.push({start: e.startTime, duration: e.duration});
  }).observe({entryTypes: ['longtask']});
} catch (_) {}
"""

CARDS = f'[data-testid^="cluster-{NAMESPACE}-"]'

# Resolves with performance.now() of the frame after the list shows `count` clusters (checked on
# each mutation): `count` cards exist, or a virtualised list's cards say it holds `count`.
WAIT_FOR_CARDS = """
([selector, count]) => new Promise((resolve) => {
  const done = () => afterFrame(resolve);
  const shown = () => {
    const cards = document.querySelectorAll(selector);
    return cards.length >= count || (cards.length > 0 && Number(cards[0].getAttribute('aria-setsize')) >= count);
  };
  if (shown()) { done(); return; }
  const observer = new MutationObserver(() => {
    if (shown()) { observer.disconnect(); done(); }
  });
  observer.observe(document.body, {childList: true, subtree: true});
})
"""

# Arms an observer on one card; window.__dk8s.changed resolves with the frame after its workers
# line shows `expected` (other re-renders, e.g. the ages ticking, are not the update).
ARM_CARD = """
([selector, expected]) => {
  const card = document.querySelector(selector);
  window.__dk8s.changed = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      const workers = card.querySelector('[data-testid="workers"]');
      if (!workers || !workers.textContent.includes(expected)) return;
      observer.disconnect();
      const mutated = performance.now();
      afterFrame((frame) => resolve({mutated, frame}));
    });
    observer.observe(card, {childList: true, subtree: true, characterData: true, attributes: true});
  });
  return performance.now();
}
"""


# Scrolls the list until the card `selector` (at 0-based `index`) is in the DOM, then lets a frame
# pass; a no-op when every card is rendered. Resolves with whether the card is there.
SCROLL_TO_CARD = """
async ([cards, selector, index]) => {
  const scroller = document.querySelector('.dk8s-ClusterList');
  const frame = () => new Promise((r) => afterFrame(r));
  for (let k = 0; k < 40 && !document.querySelector(selector); k++) {
    const rendered = [...document.querySelectorAll(cards)];
    const first = rendered[0], last = rendered[rendered.length - 1];
    const per = (last.offsetTop + last.offsetHeight - first.offsetTop) / rendered.length;
    const middle = (Number(first.getAttribute('aria-posinset')) + Number(last.getAttribute('aria-posinset'))) / 2;
    scroller.scrollTop += (index + 1 - middle) * per;
    await frame();
  }
  document.querySelector(selector)?.scrollIntoView({block: 'center'});
  await frame();
  await frame();
  return !!document.querySelector(selector);
}
"""

# The floor: the browser's cost to show `count` plain three-span rows in the same sidebar.
PLAIN_ROWS = """
(count) => new Promise((resolve) => {
  const host = document.querySelector('#dask-k8s-sidebar');
  const t = performance.now();
  const list = document.createElement('ul');
  for (let i = 0; i < count; i++) {
    const li = document.createElement('li');
    for (const text of [`cluster-${i}`, 'Running', '2/2 workers']) {
      const span = document.createElement('span');
      span.textContent = text;
      li.appendChild(span);
    }
    list.appendChild(li);
  }
  host.prepend(list);
  afterFrame((done) => { list.remove(); resolve(done - t); });
})
"""


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def start_lab(clusters: int, home: Path) -> tuple[subprocess.Popen, str, str]:
    port, token = free_port(), secrets.token_hex(16)
    settings = home / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    (home / "root").mkdir()
    jupyter = Path(sys.executable).with_name("jupyter")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'root'}",
         f"--LabApp.app_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
         f"--LabApp.user_settings_dir={home / 'user-settings'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--ServerApp.jpserver_extensions={'dask_k8s_lab.server': True}", f"--DaskK8sLab.namespaces={NAMESPACE}",
         "--DaskK8sLab.query_schedulers=False", "--DaskK8sLab.kube_backend_class=server_bench.PopulatedBackend",
         "--log-level=ERROR"],
        env={**os.environ, "SERVER_BENCH_CLUSTERS": str(clusters), "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"},
        cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return server, f"127.0.0.1:{port}", token


async def server_side(address: str, token: str, clusters: int, subscribers: list[int], updates: int) -> dict:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    client = AsyncHTTPClient()
    headers = {"Authorization": f"token {token}"}
    base = f"http://{address}"
    for _ in range(600):
        try:
            response = await client.fetch(f"{base}/dask-k8s/clusters", headers=headers, raise_error=False)
            if response.code == 200 and len(json.loads(response.body)["clusters"]) == clusters:
                break
        except OSError:
            pass
        await asyncio.sleep(0.1)
    else:
        raise SystemExit("the Jupyter server did not list the clusters")
    result: dict = {"list_bytes": len(response.body)}

    async def timed(url: str, n: int = 50) -> list[float]:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            r = await client.fetch(base + url, headers=headers)
            times.append(time.perf_counter() - start)
            assert r.code == 200
        return times

    await timed("/api/status", 10)
    await timed("/dask-k8s/clusters", 10)
    floor, listed = await timed("/api/status"), await timed("/dask-k8s/clusters")
    result["get_api_status"] = summary(floor)
    result["get_clusters"] = summary(listed)
    result["get_clusters_over_api_status"] = round(statistics.median(listed) / statistics.median(floor), 2)

    ws_url = f"ws://{address}/dask-k8s/stream"
    workers = 2  # every PATCH asks for a count no cluster has had, so each one is a change
    for count in subscribers:
        sockets, snapshots = [], []
        for _ in range(count):
            start = time.perf_counter()
            ws = await websocket_connect(HTTPRequest(ws_url, headers=headers), max_message_size=64 * 2**20)
            first = json.loads(await ws.read_message())
            assert first["type"] == "snapshot" and len(first["clusters"]) == clusters
            snapshots.append(time.perf_counter() - start)
            sockets.append(ws)
        fanout, round_trips = [], []
        for i in range(updates):
            name = f"cluster-{i % clusters:03d}"
            workers += 1
            start = time.perf_counter()

            async def receive(ws, name: str = name, start: float = start) -> float:
                while True:
                    message = json.loads(await ws.read_message())
                    if message.get("type") == "updated" and message["cluster"]["name"] == name:
                        return time.perf_counter() - start

            waiting = [asyncio.ensure_future(receive(ws)) for ws in sockets]
            r = await client.fetch(f"{base}/dask-k8s/clusters/{NAMESPACE}/{name}", method="PATCH", headers=headers,
                                   body=json.dumps({"workers": workers}))
            round_trips.append(time.perf_counter() - start)
            assert r.code == 200
            fanout.extend(await asyncio.wait_for(asyncio.gather(*waiting), 30))
        for ws in sockets:
            ws.close()
        result[f"stream_{count}_subscribers"] = {
            "snapshot": summary(snapshots), "patch_round_trip": summary(round_trips),
            "patch_to_update_at_every_subscriber": summary(fanout)}
    return result


class Metrics:
    """Chromium's own counters of main-thread time (DevTools Performance.getMetrics), as a
    difference: script against style recalculation and layout."""

    KEYS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")

    def __init__(self, session, before: dict) -> None:
        self.session, self.before = session, before

    @staticmethod
    async def _read(session) -> dict:
        return {m["name"]: m["value"] for m in (await session.send("Performance.getMetrics"))["metrics"]}

    @classmethod
    async def start(cls, context, page) -> Metrics:
        session = await context.new_cdp_session(page)
        await session.send("Performance.enable")
        return cls(session, await cls._read(session))

    async def stop(self) -> dict[str, float]:
        after = await self._read(self.session)
        await self.session.detach()
        return {k.removesuffix("Duration").lower(): round((after[k] - self.before[k]) * 1000, 1) for k in self.KEYS}


class Profiler:
    """Chromium's sampling CPU profiler (DevTools protocol): where the page's main thread spent
    its time, as the functions with the most self time."""

    def __init__(self, session) -> None:
        self.session = session

    @classmethod
    async def start(cls, context, page) -> Profiler:
        session = await context.new_cdp_session(page)
        await session.send("Profiler.enable")
        await session.send("Profiler.setSamplingInterval", {"interval": 500})
        await session.send("Profiler.start")
        return cls(session)

    async def stop(self, top: int = 12) -> list[str]:
        profile = (await self.session.send("Profiler.stop"))["profile"]
        await self.session.detach()
        nodes = {n["id"]: n for n in profile["nodes"]}
        self_ms: dict[str, float] = {}
        for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
            frame = nodes[sample]["callFrame"]
            where = frame["url"].rsplit("/", 1)[-1].split("?")[0]
            key = f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}"
            self_ms[key] = self_ms.get(key, 0) + delta / 1000
        ranked = sorted(self_ms.items(), key=lambda kv: -kv[1])
        return [f"{ms:8.1f} ms  {key}" for key, ms in ranked[:top]]


async def browser_side(address: str, token: str, clusters: int, updates: int, profile: bool = False) -> dict:
    from playwright.async_api import async_playwright

    result: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        await context.add_init_script(PAGE_HOOKS)
        page = await context.new_page()
        page.set_default_timeout(120000)
        await page.goto(f"http://{address}/lab?token={token}&reset")
        await page.locator("#jupyterlab-splash").wait_for(state="detached")
        tab = page.locator('li[data-id="dask-k8s-sidebar"]')
        await tab.wait_for()
        # the list has arrived (the model starts with the plugin) before the sidebar opens
        await page.wait_for_function("window.__dk8s.messages.some(m => m.type === 'snapshot')")
        await page.wait_for_timeout(1000)  # let the page settle after load
        profiler = await Profiler.start(context, page) if profile else None
        metrics = await Metrics.start(context, page)
        clicked = await page.evaluate("() => performance.now()")
        await tab.click()
        rendered = await page.evaluate(WAIT_FOR_CARDS, [CARDS, clusters])
        result["first_render_ms"] = round(rendered - clicked, 1)
        result["first_render_main_thread_ms"] = await metrics.stop()
        result["sidebar_elements"] = await page.evaluate(
            "() => document.querySelectorAll('#dask-k8s-sidebar *').length")
        result["sidebar_svgs"] = await page.evaluate(
            "() => document.querySelectorAll('#dask-k8s-sidebar svg').length")
        if profiler:
            result["first_render_profile"] = await profiler.stop()
        result["cards_in_dom"] = await page.locator(CARDS).count()
        result["floor_plain_rows_ms"] = round(await page.evaluate(PLAIN_ROWS, clusters), 1)
        result["first_render_over_floor"] = round(result["first_render_ms"] / max(result["floor_plain_rows_ms"], 0.1), 1)

        # One update at a time: the `updated` message reaching the page -> the frame after the card changed.
        times, end_to_end, longest = [], [], []
        profiler = await Profiler.start(context, page) if profile else None
        metrics = await Metrics.start(context, page)
        for i in range(updates):
            index = (i * 37) % clusters
            name = f"cluster-{index:03d}"
            workers = 100 + i  # above any count the server side asked for: always a change
            selector = f'[data-testid="cluster-{NAMESPACE}-{name}"]'
            if not await page.evaluate(SCROLL_TO_CARD, [CARDS, selector, index]):
                raise SystemExit(f"the card of {name} could not be scrolled into view")
            await page.wait_for_timeout(200)  # let the scroll's renders settle before timing
            await page.evaluate(ARM_CARD, [f'[data-testid="cluster-{NAMESPACE}-{name}"]', f"/{workers} workers"])
            sent = await page.evaluate(
                """async ([url, body, token]) => { const t = performance.now();
                   await fetch(url, {method: 'PATCH', body, headers: {'Authorization': `token ${token}`}}); return t; }""",
                [f"/dask-k8s/clusters/{NAMESPACE}/{name}", json.dumps({"workers": workers}), token])
            changed = await page.evaluate("() => window.__dk8s.changed")
            arrival = await page.evaluate(
                "(name) => window.__dk8s.messages.filter(m => m.type === 'updated' && m.name === name).at(-1).t", name)
            tasks = await page.evaluate(
                "(t) => window.__dk8s.longtasks.filter(e => e.start + e.duration >= t).map(e => e.duration)", arrival)
            times.append((changed["frame"] - arrival) / 1000)
            end_to_end.append((changed["frame"] - sent) / 1000)
            longest.append(max(tasks, default=0) / 1000)
        result["updates_main_thread_ms"] = await metrics.stop()
        if profiler:
            result["updates_profile"] = await profiler.stop()
        result["update_message_to_frame"] = summary(times)
        result["update_patch_to_frame"] = summary(end_to_end)
        result["update_longest_task"] = summary(longest)

        # A load with the sidebar open (the workspace remembers it): snapshot message -> frame.
        await page.goto(f"http://{address}/lab?token={token}")
        await page.wait_for_function("window.__dk8s.messages.some(m => m.type === 'snapshot')")
        rendered = await page.evaluate(WAIT_FOR_CARDS, [CARDS, clusters])
        snapshot = await page.evaluate("() => window.__dk8s.messages.find(m => m.type === 'snapshot')")
        result["load_snapshot_to_frame_ms"] = round(rendered - snapshot["t"], 1)
        result["snapshot_bytes"] = snapshot["bytes"]
        await browser.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--subscribers", default="1,10,50", help="stream subscribers for the fan-out, comma-separated")
    parser.add_argument("--updates", type=int, default=10, help="updates timed per measurement")
    parser.add_argument("--no-browser", action="store_true", help="the server's side only")
    parser.add_argument("--profile", action="store_true",
                        help="also print the page's hottest functions (Chromium's CPU profiler)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, address, token = start_lab(args.clusters, Path(tmp))
        try:
            report = {"clusters": args.clusters,
                      "server": await server_side(address, token, args.clusters,
                                                  [int(s) for s in args.subscribers.split(",") if s], args.updates)}
            if not args.no_browser:
                report["browser"] = await browser_side(address, token, args.clusters, args.updates, args.profile)
        finally:
            server.terminate()
            server.wait(15)
    print(json.dumps(report, indent=1))
    browser = report.get("browser")
    if browser:
        print(f"first render {browser['first_render_ms']} ms (target <= 300); update "
              f"{browser['update_message_to_frame']['median_ms']} ms median, "
              f"{browser['update_message_to_frame']['max_ms']} ms max (target <= 50)")


if __name__ == "__main__":
    asyncio.run(main())
