// Choosing a catalogue part on a part order line fills the line's description and unit
// cost from the catalogue (each <option> carries them). Both stay editable: what the
// technician typed is never overwritten, only what the previous choice filled in. Without
// this script the server fills the fields left empty when the order is saved.
(() => {
  "use strict";

  function fill(input, value) {
    if (!input) return;
    if (input.value.trim() === "" || input.value === input.dataset.filled) {
      input.value = value || "";
      input.dataset.filled = input.value;
    }
  }

  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-catalogue-part]");
    if (!select) return;
    const row = select.closest("[data-order-line]");
    const chosen = select.selectedOptions[0];
    if (!row || !chosen || !chosen.dataset.description) return;
    fill(row.querySelector("[data-line-description]"), chosen.dataset.description);
    fill(row.querySelector("[data-line-unit-cost]"), chosen.dataset.listPrice);
  });
})();
