"""A stand-in for Kubeflow's PodDefault admission webhook, as a pure function (tests only).

In Kubeflow, a mutating admission webhook merges every PodDefault of the pod's namespace whose
selector matches the pod's labels into the pod as it is created. The local Kubernetes has no such
webhook, so the tests build the notebook pod by calling ``apply_pod_defaults`` with the PodDefault
objects read back from the API server, then create the pod. What the pod gets is therefore exactly
what the applied manifest says, and nothing the test adds on its own.

It merges what our manifest uses and the webhook documents: env, envFrom and volumeMounts into
every container; volumes, tolerations and imagePullSecrets into the pod; labels and annotations
into its metadata; serviceAccountName and automountServiceAccountToken. Like the webhook, it
refuses a PodDefault whose entries collide with different values already in the pod, and records
each applied PodDefault in an annotation. Fields it does not implement (command, args,
initContainers, sidecars) are refused rather than silently dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

#: The annotation the webhook leaves on a pod per applied PodDefault (value: its resourceVersion).
APPLIED_ANNOTATION = "poddefault.admission.kubeflow.org/poddefault-{name}"
UNSUPPORTED = ("command", "args", "initContainers", "sidecars")


class PodDefaultConflict(ValueError):
    """A PodDefault sets something the pod already has with another value."""


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects ``labels``.

    An empty selector selects everything, as in Kubernetes.
    """
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"selector operator {operator!r} is not one of In, NotIn, Exists, DoesNotExist")
    return True


def _merge_named(existing: list[dict], added: Iterable[dict], key: str, what: str, source: str) -> list[dict]:
    """``existing`` plus ``added``; an entry with the same ``key`` must be identical."""
    merged = list(existing)
    by_key = {item[key]: item for item in existing}
    for item in added:
        if item[key] in by_key:
            if by_key[item[key]] != item:
                raise PodDefaultConflict(
                    f"PodDefault {source}: {what} {item[key]!r} is already set differently in the pod")
            continue
        merged.append(copy.deepcopy(item))
        by_key[item[key]] = item
    return merged


def _merge_map(existing: Mapping[str, str] | None, added: Mapping[str, str] | None, what: str,
               source: str) -> dict[str, str]:
    merged = dict(existing or {})
    for key, value in (added or {}).items():
        if key in merged and merged[key] != value:
            raise PodDefaultConflict(f"PodDefault {source}: {what} {key!r} is already {merged[key]!r} in the pod")
        merged[key] = value
    return merged


def matching(pod: Mapping[str, Any], pod_defaults: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The PodDefaults of the pod's namespace that select it, by name."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    namespace = (pod.get("metadata") or {}).get("namespace")
    found = [
        pd for pd in pod_defaults
        if pd["metadata"].get("namespace") in (None, namespace) and selector_matches(pd["spec"]["selector"], labels)
    ]
    return sorted(found, key=lambda pd: pd["metadata"]["name"])


def apply_pod_defaults(pod: Mapping[str, Any], pod_defaults: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The pod as the PodDefault webhook would admit it (a new dict; ``pod`` is unchanged)."""
    out = copy.deepcopy(dict(pod))
    metadata, spec = out.setdefault("metadata", {}), out.setdefault("spec", {})
    for pd in matching(out, pod_defaults):
        name, pd_spec = pd["metadata"]["name"], pd["spec"]
        unsupported = [field for field in UNSUPPORTED if pd_spec.get(field)]
        if unsupported:
            raise NotImplementedError(
                f"PodDefault {name}: the webhook stand-in does not apply {', '.join(unsupported)}")
        for container in spec.get("containers") or []:
            container["env"] = _merge_named(container.get("env") or [], pd_spec.get("env") or [], "name", "env", name)
            container["volumeMounts"] = _merge_named(
                container.get("volumeMounts") or [], pd_spec.get("volumeMounts") or [], "name", "volumeMount", name)
            container["envFrom"] = [*(container.get("envFrom") or []), *copy.deepcopy(pd_spec.get("envFrom") or [])]
        spec["volumes"] = _merge_named(spec.get("volumes") or [], pd_spec.get("volumes") or [], "name", "volume", name)
        spec["tolerations"] = [*(spec.get("tolerations") or []), *copy.deepcopy(pd_spec.get("tolerations") or [])]
        spec["imagePullSecrets"] = _merge_named(
            spec.get("imagePullSecrets") or [], pd_spec.get("imagePullSecrets") or [], "name", "imagePullSecret", name)
        if pd_spec.get("serviceAccountName"):
            spec["serviceAccountName"] = pd_spec["serviceAccountName"]
        if "automountServiceAccountToken" in pd_spec:
            spec["automountServiceAccountToken"] = pd_spec["automountServiceAccountToken"]
        metadata["labels"] = _merge_map(metadata.get("labels"), pd_spec.get("labels"), "label", name)
        annotations = _merge_map(metadata.get("annotations"), pd_spec.get("annotations"), "annotation", name)
        annotations[APPLIED_ANNOTATION.format(name=name)] = str(pd["metadata"].get("resourceVersion", ""))
        metadata["annotations"] = annotations
    # Lists that stayed empty are left out, as in the pod given.
    for key in ("volumes", "tolerations", "imagePullSecrets"):
        if not spec.get(key):
            spec.pop(key, None)
    for container in spec.get("containers") or []:
        for key in ("env", "volumeMounts", "envFrom"):
            if not container.get(key):
                container.pop(key, None)
    return out
