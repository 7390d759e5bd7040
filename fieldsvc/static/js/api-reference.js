// The API reference page: Swagger UI (served by the app) on the generated OpenAPI document.
window.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("api-reference");
  window.ui = SwaggerUIBundle({
    url: element.dataset.specUrl,
    domNode: element,
    deepLinking: true,
    persistAuthorization: false,
  });
});
