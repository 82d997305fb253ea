// Starts Swagger UI on /schema (portal/web/openapi.py renders the page; the CSP refuses inline scripts).
// Signed-in people's changes carry the page's CSRF token in the x-csrftoken header.
"use strict";

(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
  const csrfToken = meta("csrf-token");
  window.ui = SwaggerUIBundle({
    url: meta("openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: (request) => {
      if (csrfToken) request.headers["x-csrftoken"] = csrfToken;
      return request;
    },
  });
})();
