// The outbox: what a technician does with no connection waits on this device and is
// sent when the connection is back, in order, one at a time, once each.
//
// Forms marked data-outbox keep working as plain forms online. When a submit finds no
// connection, their fields and files (photos downscaled on the device first) go into
// IndexedDB with a fresh idempotency key; they are sent again to the same URL asking for
// JSON, with a fresh CSRF token, on page load, when the browser comes online and on a
// timer (no service worker needed). The server records a key once, so a resend after a
// lost answer is harmless; a lock across tabs keeps two tabs from sending together.
// What the server refuses stays here as "needs you" with its message: nothing is
// dropped without the technician choosing to.
//
// IndexedDB is used through the small promise wrapper below (four calls: all, put,
// remove, clear) rather than a vendored library: it is all the outbox needs.
(() => {
  "use strict";

  const DB_NAME = "fieldsvc-outbox";
  const STORE = "items";
  const LOCK = "fieldsvc-outbox-replay";
  const LEASE = "fieldsvc:outbox-lease";
  const FIXING = "fieldsvc:outbox-fixing";
  // How many items are not sent yet, for offline.js: it loads this script only when
  // there are some (or a form may need queuing).
  const PENDING = "fieldsvc:outbox-pending";
  const RETRY_EVERY_MS = 30000;
  const SENT_KEPT_MS = 10 * 60000;
  const STATES = { waiting: "Waiting", sending: "Sending…", sent: "Sent", needs_you: "Needs you" };
  const SIGN_IN = "Sign in to send this.";

  const root = document.querySelector("[data-outbox-root]");
  const userId = root?.dataset.user || "";
  const tokenUrl = root?.dataset.tokenUrl;
  const maxPhotoBytes = Number(root?.dataset.maxPhotoBytes) || 15e6;
  // Long side of a photo kept offline: sharp enough for evidence, a few hundred KB to send.
  const PHOTO_LONG_SIDE = 2560;
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("fieldsvc-outbox") : null;

  // --- IndexedDB ------------------------------------------------------------------------

  let opened;
  function database() {
    opened ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        // Ids grow with each item queued: the store's order is the order to send in.
        request.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return opened;
  }

  const result = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  async function write(change) {
    const transaction = (await database()).transaction(STORE, "readwrite");
    const finished = new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onerror = transaction.onabort = () => reject(transaction.error);
    });
    const answer = await result(change(transaction.objectStore(STORE)));
    await finished;
    channel?.postMessage("changed");
    return answer;
  }

  const all = async () => result((await database()).transaction(STORE).objectStore(STORE).getAll());
  const put = (item) => write((store) => store.put(item));
  const remove = (id) => write((store) => store.delete(id));
  const clear = () => write((store) => store.clear());

  // --- queuing a form -------------------------------------------------------------------

  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A photo the server accepts and is quick to send: at most PHOTO_LONG_SIDE pixels on
  // its long side, a JPEG under the upload limit, upright. What the browser cannot
  // decode is kept as it is, for the server to accept or to refuse in words.
  async function downscaled(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return file;
    }
    const scale = Math.min(1, PHOTO_LONG_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff"; // a transparent PNG is laid on white, as the server does
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    for (const quality of [0.85, 0.7, 0.5]) {
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
      if (blob && blob.size <= maxPhotoBytes) return blob;
    }
    return file;
  }

  const fileInputs = (form) => [...form.elements].filter((element) => element.type === "file");

  // Which of the form's file inputs each file of its FormData comes from (its place among
  // them), read before the form is emptied: FormData lists the files input by input, an
  // input with none as one empty entry, and leaves out inputs without a name or disabled.
  function fileOrigins(form) {
    return fileInputs(form).flatMap((input, place) => (
      input.name && !input.matches(":disabled") ? Array(Math.max(input.files.length, 1)).fill(place) : []));
  }

  // `data`: the form's fields as they were when it was submitted; `origins`: fileOrigins().
  async function captured(form, data, origins) {
    const key = newKey();
    const fields = [];
    const files = [];
    let fileEntry = 0;
    for (const [name, value] of data) {
      if (value instanceof File) {
        const input = origins[fileEntry++];
        if (!value.name || !value.size) continue;
        const blob = await downscaled(value);
        const filename = blob === value ? value.name : value.name.replace(/\.[^.]*$/, "") + ".jpg";
        files.push({ name, filename, blob, input });
      } else if (name === "csrf_token" || name.endsWith("-csrf_token")) {
        continue; // a fresh one is fetched when it is sent
      } else {
        fields.push([name, name.endsWith("submission_key") ? key : value]);
      }
    }
    return {
      kind: form.dataset.outbox,
      title: form.dataset.outboxTitle || document.title,
      userId,
      action: new URL(form.getAttribute("action") || location.href, location.href).href,
      page: location.pathname + location.search,
      fields,
      files,
      key,
      state: "waiting",
      message: "",
      queuedAt: Date.now(),
    };
  }

  // Said at once (photos take a moment to shrink), then once the item is safely stored.
  function saying(text) {
    document.querySelector(".outbox-saved")?.remove();
    const note = document.createElement("p");
    note.className = "flash flash-success outbox-saved";
    note.setAttribute("role", "status");
    note.textContent = text;
    document.querySelector("main")?.prepend(note);
    note.scrollIntoView({ block: "nearest" });
    return note;
  }

  async function queue(form, data) {
    const note = saying("No connection: saving on this tablet…");
    const fixing = form.dataset.outboxFixing;
    delete form.dataset.outboxFixing;
    const origins = fileOrigins(form);
    // Emptied at once, for the next one: what was submitted is in `data`.
    form.reset();
    for (const input of form.querySelectorAll("input[type=file]")) {
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    const item = await captured(form, data, origins);
    const photos = item.files.length;
    await put(item);
    if (fixing) await remove(Number(fixing));
    // The report is in the outbox now: its draft would offer it a second time.
    if (form.dataset.draftKey) {
      try { localStorage.removeItem("fieldsvc:" + form.dataset.draftKey); } catch { /* none */ }
    }
    note.textContent = (`Saved on this tablet, will be sent: ${item.title}` +
      (photos ? ` (${photos} photo${photos > 1 ? "s" : ""})` : "") + ".");
    await render();
    replay();
  }

  // Is the server there? Online as far as the browser knows is not always reachable.
  async function reachable() {
    if (!navigator.onLine) return false;
    try {
      await fetch(tokenUrl, { headers: { Accept: "application/json" }, cache: "no-store",
        signal: AbortSignal.timeout(8000) });
      return true;
    } catch {
      return false;
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.outbox || !userId) return;
    if (form.dataset.outboxChecked) {
      delete form.dataset.outboxChecked; // checked just now: the browser sends it
      if (form.dataset.outboxFixing) await remove(Number(form.dataset.outboxFixing));
      return;
    }
    event.preventDefault();
    const submitter = event.submitter;
    const data = new FormData(form, submitter);
    if (await reachable()) {
      form.dataset.outboxChecked = "1";
      form.requestSubmit(submitter);
    } else {
      await queue(form, data);
    }
  });

  // --- sending --------------------------------------------------------------------------

  const mine = (item) => item.userId === userId;
  const sendable = (item) => mine(item) && (item.state === "waiting" || item.state === "sending");

  function body(item, token) {
    const data = new FormData();
    data.append("csrf_token", token);
    for (const [name, value] of item.fields) data.append(name, value);
    for (const file of item.files) data.append(file.name, file.blob, file.filename);
    return data;
  }

  async function freshToken() {
    const response = await fetch(tokenUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) return null;
    if (!response.ok) throw new Error(`token: ${response.status}`);
    const answer = await response.json();
    // Signed in as someone else now: their session must not send this user's items.
    if (String(answer.user_id) !== userId) return null;
    return answer.csrf_token;
  }

  async function needsSignIn() {
    for (const item of (await all()).filter(sendable)) {
      await put({ ...item, state: "needs_you", message: SIGN_IN, signIn: true });
    }
  }

  // One item: true to go on with the next, false to stop this round (no connection,
  // the server in trouble, signed out) and try again later.
  async function send(item, token) {
    await put({ ...item, state: "sending" });
    await render();
    let response;
    try {
      response = await fetch(item.action, {
        method: "POST",
        body: body(item, token),
        headers: { Accept: "application/json", "X-CSRFToken": token },
        credentials: "same-origin",
      });
    } catch {
      // The answer may have been lost after the server recorded it: the key makes the
      // resend harmless.
      await put({ ...item, state: "waiting" });
      return false;
    }
    const answer = await response.json().catch(() => null);
    if (response.ok && answer?.ok) {
      // Sent: the photos' bytes are not needed any more.
      const files = item.files.map(({ name, filename }) => ({ name, filename }));
      await put({ ...item, files, state: "sent", message: answer.message, url: answer.url || "", sentAt: Date.now() });
      return true;
    }
    if (response.status === 401 || answer?.signed_out) {
      await put({ ...item, state: "needs_you", message: SIGN_IN, signIn: true });
      await needsSignIn();
      return false;
    }
    if (!answer || response.status >= 500 || response.status === 429) {
      await put({ ...item, state: "waiting" });
      return false;
    }
    await put({ ...item, state: "needs_you", message: answer.message });
    return true;
  }

  async function sendAll() {
    let token;
    try {
      token = await freshToken();
    } catch {
      return;
    }
    if (!token) {
      await needsSignIn();
      return;
    }
    for (;;) {
      const next = (await all()).find(sendable);
      if (!next || !navigator.onLine || !(await send(next, token))) break;
      await render();
    }
  }

  // Only one tab sends at a time; without the Web Locks API, a lease in localStorage.
  async function exclusively(work) {
    if (navigator.locks) {
      return navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => (lock ? work() : null));
    }
    const me = newKey();
    const lease = JSON.parse(localStorage.getItem(LEASE) || "null");
    if (lease && lease.until > Date.now()) return null;
    localStorage.setItem(LEASE, JSON.stringify({ owner: me, until: Date.now() + 120000 }));
    try {
      return await work();
    } finally {
      if (JSON.parse(localStorage.getItem(LEASE) || "null")?.owner === me) localStorage.removeItem(LEASE);
    }
  }

  let replaying = null;
  function replay() {
    if (!userId || !navigator.onLine) return Promise.resolve();
    replaying ??= (async () => {
      try {
        if ((await all()).some(sendable)) await exclusively(sendAll);
      } finally {
        replaying = null;
        await render();
      }
    })();
    return replaying;
  }

  // --- what the technician sees -----------------------------------------------------------

  const pending = (items) => items.filter((item) => item.state !== "sent");

  // As the pages write a time (fieldsvc/clock.py): "2026-11-30 09:05 EST", in the
  // reader's zone, which the page carries with the abbreviations its pages use for it by
  // UTC offset; the browser's own name for a zone the page did not name.
  const zoneNames = (() => {
    try { return JSON.parse(root?.dataset.zoneNames || "{}"); } catch { return {}; }
  })();

  function when(time) {
    const zone = document.documentElement.dataset.timeZone || undefined;
    const date = new Date(time);
    const parts = {};
    for (const { type, value } of new Intl.DateTimeFormat("en-US", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "longOffset",
    }).formatToParts(date)) parts[type] = value;
    const offset = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(parts.timeZoneName);
    const minutes = offset?.[1] ? Number(`${offset[1]}1`) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
    const name = zoneNames[String(minutes)] ?? new Intl.DateTimeFormat("en-US", { timeZone: zone,
      timeZoneName: "short" }).formatToParts(date).find((part) => part.type === "timeZoneName")?.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${name}`;
  }

  function make(tag, properties = {}, ...children) {
    const element = Object.assign(document.createElement(tag), properties);
    element.append(...children);
    return element;
  }

  function row(item) {
    const state = item.userId && !mine(item) ? "needs_you" : item.state;
    const entry = make("li", { className: `outbox-item outbox-${state.replace("_", "-")}` });
    entry.dataset.outboxItem = item.id;
    const head = make("p", { className: "outbox-head" },
      make("strong", { textContent: item.title }), " ",
      make("span", { className: "badge outbox-state", textContent: STATES[state] }));
    const photos = item.files.length ? ` · ${item.files.length} photo${item.files.length > 1 ? "s" : ""}` : "";
    entry.append(head, make("p", { className: "muted", textContent: `Saved ${when(item.queuedAt)}${photos}` }));
    if (!mine(item)) {
      entry.append(make("p", { className: "outbox-message", textContent: "Saved by another user: they sign in to send it." }));
    } else if (item.message && state !== "waiting") {
      entry.append(make("p", { className: "outbox-message", textContent: item.message }));
    }
    if (state === "sent" && item.url) {
      entry.append(make("p", {}, make("a", { href: item.url, textContent: "Open it" })));
    }
    if (state === "needs_you" && mine(item) && !item.signIn) {
      const fix = make("button", { type: "button", className: "button primary", textContent: "Fix and send" });
      fix.addEventListener("click", () => {
        sessionStorage.setItem(FIXING, String(item.id));
        location.assign(item.page);
      });
      const discard = make("button", { type: "button", className: "button secondary", textContent: "Discard" });
      discard.addEventListener("click", async () => {
        if (!confirm(`Discard “${item.title}”? It was never recorded and cannot be brought back.`)) return;
        await remove(item.id);
        await render();
      });
      entry.append(make("p", { className: "actions" }, fix, " ", discard));
    } else if (state === "needs_you" && item.signIn) {
      entry.append(make("p", {}, make("a", { href: "/login", textContent: "Sign in" })));
    }
    return entry;
  }

  async function render() {
    const items = await all();
    const waiting = pending(items);
    try { localStorage.setItem(PENDING, String(waiting.length)); } catch { /* loaded on every page then */ }
    if (!root) return;
    const needing = waiting.filter((item) => item.state === "needs_you" || !mine(item)).length;
    // Shown while something is not sent yet; what was just sent stays listed with it.
    root.hidden = waiting.length === 0;
    root.dataset.pending = String(waiting.length);
    root.querySelector("[data-outbox-count]").textContent =
      `${waiting.length} waiting to send` + (needing ? ` · ${needing} need${needing > 1 ? "" : "s"} you` : "");
    root.classList.toggle("outbox-needs-you", needing > 0);
    root.querySelector("[data-outbox-items]").replaceChildren(...items.map(row));
  }

  function initList() {
    if (!root) return;
    const toggle = root.querySelector("[data-outbox-toggle]");
    const list = root.querySelector("[data-outbox-list]");
    toggle.addEventListener("click", () => {
      list.hidden = !list.hidden;
      toggle.setAttribute("aria-expanded", String(!list.hidden));
    });
  }

  // --- fixing an item the server refused: its form again, filled in --------------------

  async function waitFor(test) {
    for (let tries = 0; tries < 30 && !test(); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function fix() {
    const id = Number(sessionStorage.getItem(FIXING));
    if (!id) return;
    sessionStorage.removeItem(FIXING);
    const item = (await all()).find((each) => each.id === id);
    if (!item) return;
    const action = new URL(item.action).pathname;
    const form = [...document.querySelectorAll("form[data-outbox]")].find(
      (each) => new URL(each.getAttribute("action") || location.href, location.href).pathname === action);
    if (!form) {
      // The form is gone (the follow-up was closed, the incident moved): say so; the
      // item stays in the list until it is discarded.
      document.querySelector("main")?.prepend(make("p", { className: "flash flash-error outbox-fixing",
        role: "alert", textContent: `“${item.title}” cannot be sent from here any more: ${item.message} ` +
          "Check the page, then discard it from the list of items waiting to send." }));
      return;
    }
    form.dataset.outboxFixing = String(item.id);
    // Each photo back in the input it was chosen in ("Take a photo" or "Choose files"),
    // so choosing again in one input leaves the other's; in the first input of its name
    // when that one is not there (or for an item saved before origins were kept).
    const inputs = fileInputs(form);
    const home = (file) => (inputs[file.input]?.name === file.name
      ? inputs[file.input] : inputs.find((input) => input.name === file.name));
    for (const input of inputs) {
      const transfer = new DataTransfer();
      for (const file of item.files) {
        if (file.blob && home(file) === input) {
          transfer.items.add(new File([file.blob], file.filename, { type: file.blob.type }));
        }
      }
      input.files = transfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    const named = new Map();
    for (const [name, value] of item.fields) named.set(name, [...(named.get(name) || []), value]);
    for (const [name, values] of named) {
      for (const element of form.querySelectorAll(`[name="${CSS.escape(name)}"]`)) {
        if (element.type === "checkbox" || element.type === "radio") {
          element.checked = values.includes(element.value);
        } else if (element.type === "select-multiple") {
          for (const option of element.options) option.selected = values.includes(option.value);
        } else if (element.tagName === "SELECT") {
          await waitFor(() => [...element.options].some((option) => option.value === values[0]));
          element.value = values[0];
        } else if (element.type !== "file") {
          element.value = values[0];
        }
        element.dispatchEvent(new Event("change", { bubbles: true }));
      }
      // Ticks on equipment arrive with the site's list: wait for it before going on.
      if (name === "site_id") {
        const wanted = named.get("equipment_ids") || [];
        await waitFor(() => wanted.every((value) => form.querySelector(`[name="equipment_ids"][value="${CSS.escape(value)}"]`)));
      }
    }
    for (const value of named.get("equipment_ids") || []) {
      const box = form.querySelector(`[name="equipment_ids"][value="${CSS.escape(value)}"]`);
      if (box) { box.checked = true; box.dispatchEvent(new Event("change", { bubbles: true })); }
    }
    form.closest("details")?.setAttribute("open", "");
    const note = make("p", { className: "flash flash-error outbox-fixing", role: "alert",
      textContent: `Not sent yet: ${item.message} Correct it below and send it again.` });
    form.prepend(note);
    note.scrollIntoView({ block: "start" });
  }

  // --- start ------------------------------------------------------------------------------

  async function start() {
    initList();
    const items = await all();
    for (const item of items) {
      if (item.state === "sent" && Date.now() - item.sentAt > SENT_KEPT_MS) await remove(item.id);
      // Signed in again as the person who saved it: it can be sent now.
      else if (item.signIn && mine(item)) await put({ ...item, state: "waiting", signIn: false, message: "" });
    }
    await render();
    await fix();
    replay();
  }

  channel?.addEventListener("message", () => render());
  window.addEventListener("online", () => replay());
  setInterval(() => replay(), RETRY_EVERY_MS);

  window.fieldsvcOutbox = {
    // Items not sent yet (waiting, sending, needs you), of whoever saved them: the number
    // the bar last showed, at once (a sign-out with nothing unsent must not wait on
    // storage), or read from storage before the bar's first reading.
    count: () => (root?.dataset.pending !== undefined
      ? Number(root.dataset.pending)
      : all().then((items) => pending(items).length)),
    items: all,
    clear: async () => { await clear(); await render(); },
    replay,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
