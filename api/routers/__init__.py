"""One router per REST resource; `api.app` mounts them."""
