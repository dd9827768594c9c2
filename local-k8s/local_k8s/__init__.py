"""A real single-node Kubernetes without containers.

Real etcd, kube-apiserver and kube-controller-manager built from Go modules, plus a Python
node agent that plays kubelet: each pod is a set of processes in its own network namespace.
"""
