"""The kubelet's streaming endpoints (exec, attach, port-forward) over SPDY/3.1 and WebSocket."""
