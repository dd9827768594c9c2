"""The node agent: plays kubelet for one Node, running each pod's containers as processes."""
