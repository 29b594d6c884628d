"""One router per REST resource; `api.rest.app` mounts them."""
