// "Last opened" for staff means a person saw the status page: this script tells the
// server once the page is shown in a browser. Mail scanners and link previews fetch
// the HTML but do not run it, so their fetch is not counted.
(() => {
  "use strict";

  const script = document.currentScript;
  const url = script.dataset.openedUrl;
  const token = script.dataset.csrfToken;
  let told = false;

  function tell() {
    if (told || document.visibilityState !== "visible") return;
    told = true;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { "X-CSRFToken": token },
    }).catch(() => { /* only a hint for staff: the page works without it */ });
  }

  // A tab opened in the background counts when the person switches to it.
  document.addEventListener("visibilitychange", tell);
  if (document.readyState === "complete") tell();
  else window.addEventListener("load", tell);
})();
