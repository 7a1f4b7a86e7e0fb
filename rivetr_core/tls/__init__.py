"""HTTPS for every domain: certificates obtained by ACME (http-01) or uploaded, kept in the proxy.

* :mod:`.pem` — parse and validate PEM chains and keys (key matches, covers the domain, not expired).
* :mod:`.acme_client` — RFC 8555 client on the ``acme`` library, blocking calls run off the event loop.
* :mod:`.store` — certificate and ACME-account rows; private keys encrypted with the instance SecretBox.
* :mod:`.manager` — the background service (``ctx.services["certificates"]``): orders, renewals, back-off,
  events (``certificate_issued`` / ``certificate_failed``), pushes certificates to the ``ProxyBackend``.

The API lives in :mod:`rivetr_core.api.certificates`; the proxy does TLS termination, SNI selection and the
HTTP→HTTPS redirect for routes with ``https_redirect`` once it holds a certificate for the domain.
"""
