"""The service: the facade both surfaces call (`facade.Service`), the answer pipeline behind it, the runtime.

Nothing here knows about HTTP or the terminal; api/rest/ and api/cli/ call it.
"""
