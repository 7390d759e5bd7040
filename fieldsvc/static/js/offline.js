// The page's side of offline reading: registers the service worker (served at /sw.js),
// asks it to refresh the signed-in person's kept pages and data on load and on a timer,
// shows "Offline — last updated …" on a page shown from the tablet's copy, and leaves
// nothing behind when someone signs out or another person signs in.
//
// The seam with the outbox (static/js/outbox.js): this script loads it when it is needed
// (see startOutbox), and `window.fieldsvcOutbox`, once loaded, offers `count()` (items
// not sent yet) and `clear()` (drop them); both may return promises. Without it there is
// nothing unsent to warn about.
(() => {
  "use strict";

  const root = document.documentElement;
  const userKey = root.dataset.offlineUser || null;
  const LAST_USER = "fieldsvc:offline-user";
  const REFRESH_MS = 10 * 60 * 1000;

  if (root.dataset.offlinePage === "kept") {
    const banner = document.querySelector("[data-offline-banner]");
    if (banner) banner.hidden = false;
  }

  const outbox = () => window.fieldsvcOutbox;

  // --- the outbox, loaded when needed -------------------------------------------------------
  //
  // Most page views have nothing to queue and nothing waiting, so the outbox's script is
  // not part of a page's first view. It is loaded when it holds items (it leaves their
  // number in localStorage; with no number yet, when its database exists), when the
  // browser is or goes offline, and when the person starts on a form that can be queued;
  // a submit that comes before it has loaded waits for it. The service worker precaches
  // the script, so it loads with no connection too. A browser without service workers
  // (plain HTTP on another host) could not load it once offline: there a page with a form
  // that can be queued loads it at once.
  const PENDING = "fieldsvc:outbox-pending";
  const outboxScript = document.querySelector("[data-outbox-root]")?.dataset.script;
  let outboxLoading = null;
  // Settles once it is known whether the outbox is needed now and, if so, it has loaded.
  let outboxReady = Promise.resolve();
  let outboxSettled = true;

  function loadOutbox() {
    if (outbox() || !outboxScript) return Promise.resolve(Boolean(outbox()));
    outboxLoading ??= new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = outboxScript;
      script.onload = () => resolve(true);
      script.onerror = () => {
        script.remove();
        outboxLoading = null; // tried again on the next occasion
        resolve(false);
      };
      document.head.append(script);
    });
    return outboxLoading;
  }

  async function outboxHoldsItems() {
    let pending;
    try { pending = localStorage.getItem(PENDING); } catch { return true; }
    if (pending !== null) return pending !== "0";
    if (!indexedDB.databases) return true;
    try {
      return (await indexedDB.databases()).some((database) => database.name === "fieldsvc-outbox");
    } catch {
      return true;
    }
  }

  const queueable = (target) => target instanceof Element && target.closest("form[data-outbox]");

  function startOutbox() {
    if (!outboxScript) return;
    outboxSettled = false;
    outboxReady = (async () => {
      const workerless = !("serviceWorker" in navigator);
      if (!navigator.onLine || (workerless && document.querySelector("form[data-outbox]"))
        || await outboxHoldsItems()) await loadOutbox();
    })().finally(() => { outboxSettled = true; });
    window.addEventListener("offline", () => loadOutbox());
    for (const type of ["focusin", "pointerdown"]) {
      document.addEventListener(type, (event) => { if (queueable(event.target)) loadOutbox(); });
    }
    // Submitted before the outbox was there: sent again once it is, so the outbox decides
    // (send now or queue). Had it no way to load, the form goes as a plain form.
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (outbox() || !queueable(form)) return;
      if (form.dataset.outboxUnavailable) {
        delete form.dataset.outboxUnavailable;
        return;
      }
      event.preventDefault();
      const submitter = event.submitter;
      loadOutbox().then((loaded) => {
        if (!loaded) form.dataset.outboxUnavailable = "1";
        form.requestSubmit(submitter);
      });
    });
  }

  async function unsentCount() {
    await outboxReady;
    try { return Number(await outbox()?.count?.()) || 0; } catch { return 0; }
  }
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function readLastUser() {
    try { return localStorage.getItem(LAST_USER); } catch { return null; }
  }
  function writeLastUser(key) {
    try {
      if (key) localStorage.setItem(LAST_USER, key);
      else localStorage.removeItem(LAST_USER);
    } catch { /* private mode: nothing kept to compare with */ }
  }

  // Ask the worker; answers null when there is none (first visit, or a browser without).
  async function ask(message) {
    if (!("serviceWorker" in navigator)) return null;
    const registration = await navigator.serviceWorker.ready;
    if (!registration.active) return null;
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => resolve(event.data);
      registration.active.postMessage(message, [channel.port2]);
    });
  }

  // The page reaches the worker's caches too: kept copies of anyone but `keeping` go.
  async function forgetKeptCopies(keeping = null) {
    if (!("caches" in window)) return;
    const mine = keeping && `fieldsvc-user-${keeping}`;
    for (const name of await caches.keys()) {
      const theirs = name.startsWith("fieldsvc-user-") && name !== mine;
      if (theirs || (name === "fieldsvc-meta" && !keeping)) await caches.delete(name);
    }
  }

  // `force`: now, however recent the last refresh (the outbox after a replay, say).
  async function refresh(force = false) {
    if (!userKey || !navigator.onLine) return null;
    const answer = await ask({ type: "refresh", key: userKey, force: force === true });
    if (answer?.refreshed) root.dataset.offlineRefreshed = answer.refreshed.at;
    return answer?.refreshed ?? null;
  }
  window.fieldsvcOffline = { refresh };

  // Someone else signed in on this browser: the previous person's unsent items cannot be
  // sent as this person; say how many there are before they go.
  async function previousUserLeftBehind() {
    const last = readLastUser();
    if (!userKey || !last || last === userKey) return true;
    const unsent = await unsentCount();
    if (unsent > 0) {
      const keep = !window.confirm(
        `${plural(unsent, "item")} recorded on this tablet by the person signed in before you ` +
        "never reached the server. OK deletes them; Cancel signs you out so they can sign in " +
        "online and send them."
      );
      if (keep) {
        document.querySelector("form.signout")?.submit();
        return false;
      }
    }
    try { await outbox()?.clear?.(); } catch { /* an outbox that cannot clear keeps nothing readable */ }
    await forgetKeptCopies(userKey);
    return true;
  }

  // Sign out: warn about unsent items and clear the outbox first. With nothing unsent the
  // form goes at once (a sign-out must not wait on storage); the server's
  // Clear-Site-Data then clears the caches, the outbox and the worker, and the sign-in
  // page deletes any kept copies a browser without it left behind (see start()).
  function guardSignOut(form) {
    form.addEventListener("submit", (event) => {
      let unsent;
      if (!outbox() && !outboxSettled) {
        unsent = outboxReady.then(() => outbox()?.count?.());
      } else {
        try { unsent = outbox()?.count?.(); } catch { unsent = 0; }
      }
      if (!(unsent instanceof Promise) && !(Number(unsent) > 0)) {
        writeLastUser(null);
        return;
      }
      event.preventDefault();
      Promise.resolve(unsent).catch(() => 0).then(async (count) => {
        count = Number(count) || 0;
        if (count > 0 && !window.confirm(
          `${plural(count, "item")} not sent yet. Signing out deletes ${count === 1 ? "it" : "them"} ` +
          "from this tablet. Sign out anyway?"
        )) return;
        try { await outbox()?.clear?.(); } catch { /* Clear-Site-Data still clears its storage */ }
        writeLastUser(null);
        form.submit(); // submit() fires no submit event: this handler does not run again
      });
    });
  }

  async function start() {
    startOutbox();
    document.querySelectorAll("form.signout").forEach(guardSignOut);
    if (!("serviceWorker" in navigator)) return;
    if (!(await previousUserLeftBehind())) return;
    if (userKey) writeLastUser(userKey);
    else if (!readLastUser()) await forgetKeptCopies(); // signed out: nobody's copies stay
    try {
      // updateViaCache "all": the browser's checks for a new worker may use the HTTP
      // cache for the few minutes /sw.js allows, so a page view fetches only the page.
      await navigator.serviceWorker.register(root.dataset.serviceWorker, { scope: "/", updateViaCache: "all" });
    } catch {
      return; // not installable here (e.g. plain HTTP on another host): pages still work
    }
    await refresh();
    window.setInterval(refresh, REFRESH_MS);
    window.addEventListener("online", refresh);
  }

  start();
})();
