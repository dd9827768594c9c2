"""DaskJob: its DaskCluster, then its runner pod once the scheduler is ready; the job's status
follows the runner, and the cluster goes when the runner has finished."""

from __future__ import annotations

from kr8s.asyncio.objects import Pod

from dask_k8s_common.contract import job_runner_name
from dask_k8s_common.resources import DaskCluster, DaskJob

from .. import builders, events, kube, planning
from .children import create_child, creation_failed, found, report_legacy_command
from .pacing import FAST, GONE, RESYNC
from .status import now_iso, set_status


async def reconcile_job(namespace: str, name: str) -> float:
    job = await kube.fetch_live(DaskJob, name, namespace)
    if job is None:
        return GONE
    body = job.raw
    status = body.get("status") or {}
    state = status.get("jobStatus")
    if state is None:
        await set_status(job, {"jobStatus": "JobCreated"})
        await events.post(body, "JobCreated", "DaskJob accepted")
        state = "JobCreated"
    if state in planning.FINAL_JOB_STATES:
        cluster = await kube.fetch(DaskCluster, name, namespace)
        if cluster is not None and builders.is_owned_by(cluster.raw, body):
            await kube.delete(cluster)
        return GONE

    cluster = await kube.fetch(DaskCluster, name, namespace)
    if cluster is None:
        try:
            cluster, _ = await kube.create(DaskCluster, builders.build_job_cluster(body))
        except Exception as exc:
            await creation_failed(job, "DaskCluster", exc)
            return RESYNC
    elif not builders.is_owned_by(cluster.raw, body):
        message = f"a DaskCluster named {name} already exists and does not belong to this job"
        await set_status(job, {"jobStatus": "Failed", "endTime": now_iso(), "message": message})
        await events.post(body, "ClusterConflict", message, warning=True)
        return GONE
    if state == "JobCreated":  # (also when a lost response hid that the creation succeeded)
        # the runner's name is known now, though it starts only once the scheduler is ready
        await set_status(job, {"jobStatus": "ClusterCreated", "clusterName": name,
                               "jobRunnerPodName": job_runner_name(name)})
        await events.post(body, "ClusterCreated", f"created DaskCluster {name}")
        state = "ClusterCreated"
    elif not (job.raw.get("status") or {}).get("jobRunnerPodName"):
        await set_status(job, {"jobRunnerPodName": job_runner_name(name)})  # an older status

    runner = await kube.fetch(Pod, job_runner_name(name), namespace)
    if runner is not None and not builders.is_owned_by(runner.raw, body):
        if runner.raw["metadata"].get("deletionTimestamp"):
            return FAST  # a previous job's runner is still terminating
        message = f"pod {runner.name} exists and does not belong to this job"
        await set_status(job, {"message": message})
        await events.post(body, "RunnerConflict", message, warning=True)
        return RESYNC
    if runner is None:
        if (cluster.raw.get("status") or {}).get("phase") != "Running":
            return FAST  # start the runner once its scheduler is ready
        runner = await create_child(job, Pod, builders.build_job_runner_pod(body), "runner pod",
                                    "RunnerCreated")
        if runner is None:
            return RESYNC
        await report_legacy_command(body, runner.raw)
    else:
        await found(job, runner)

    summary = planning.summarize_pod(runner.raw)
    new_state = planning.job_status_from_runner(state, summary)
    if new_state == "Running":
        started = (runner.raw.get("status") or {}).get("startTime") or now_iso()
        await set_status(job, {"jobStatus": "Running", "startTime": started})
        await events.post(body, "Running", f"runner pod {runner.name} is running")
    elif new_state in planning.FINAL_JOB_STATES:
        update = {"jobStatus": new_state, "endTime": now_iso()}
        if not status.get("startTime"):
            update["startTime"] = (runner.raw.get("status") or {}).get("startTime") or now_iso()
        await kube.delete(cluster)
        await set_status(job, update)
        await events.post(body, "Job" + new_state,
                          f"runner pod {runner.name} finished ({summary.phase}); "
                          f"DaskCluster {name} removed", warning=new_state == "Failed")
        return GONE
    return RESYNC if state == "Running" else FAST
