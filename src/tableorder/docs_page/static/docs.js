// Starts Swagger UI on the docs page. It is a file, not an inline script, because the
// Content-Security-Policy allows scripts from this origin only; the page names the OpenAPI
// document in a data attribute.
"use strict";

const root = document.getElementById("swagger-ui");

window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  // Integrators generate clients from these names.
  displayOperationId: true,
  // Tokens typed into "Authorize" live in this tab only, never in localStorage.
  persistAuthorization: false,
  // The public validator would send the document to another host.
  validatorUrl: "none",
});
