"""Version skew on the cluster card: a cluster on an older Dask image says which package differs
where and the image to use; one on this environment's release says nothing."""

from __future__ import annotations

import distributed
import yaml
from playwright.sync_api import expect

from conftest import NAMESPACE, card, delete_cluster_now, kubectl


def test_card_shows_version_skew_only_when_the_image_differs(lab, shot, namespace):
    from dask_k8s_lab.specs import make_cluster_spec

    clusters = {"skew-old": "ghcr.io/dask/dask:2025.1.0", "skew-same": f"ghcr.io/dask/dask:{distributed.__version__}"}
    for name, image in clusters.items():
        manifest = make_cluster_spec(name, image=image, n_workers=0)
        manifest["metadata"]["namespace"] = namespace
        kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    try:
        old, same = card(lab, "skew-old"), card(lab, "skew-same")
        expect(old).to_be_visible(timeout=20000)
        expect(same).to_be_visible(timeout=20000)
        warning = old.get_by_test_id("version-skew")
        expect(warning).to_contain_text(f"distributed: notebook {distributed.__version__}, workers (default) 2025.1.0")
        expect(warning).to_contain_text(f"Fix: use image ghcr.io/dask/dask:{distributed.__version__}-py")
        expect(same.get_by_test_id("version-skew")).to_have_count(0)
        old.scroll_into_view_if_needed()
        shot("version-skew-card")
    finally:
        for name in clusters:
            delete_cluster_now(name, NAMESPACE)
