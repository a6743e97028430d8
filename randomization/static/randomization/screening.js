// The screening assessment form (randomization/admin.py): "all exclusions: no" in one click, and
// the panel of the values the assessment will read, refreshed when the participant or the date
// changes (the server renders it: /admin/randomization/screeningassessment/inputs/).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("all-exclusions-no");
  if (button) {
    button.addEventListener("click", () => {
      for (const name of JSON.parse(button.dataset.fields)) {
        const select = document.getElementById(`id_${name}`);
        if (select) {
          select.value = "no";
          select.dispatchEvent(new Event("change", { bubbles: true }));
        }
      }
    });
  }
  const panel = document.getElementById("screening-inputs");
  const participant = document.getElementById("id_participant");
  const date = document.getElementById("id_assessed_on");
  if (!panel || !participant) {
    return;
  }
  const refresh = () => {
    const query = new URLSearchParams({ participant: participant.value, assessed_on: date ? date.value : "" });
    fetch(`${panel.dataset.url}?${query}`, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : ""))
      .then((html) => {
        panel.innerHTML = html;
      });
  };
  participant.addEventListener("change", refresh);
  // The participant is an autocomplete (select2), which announces a choice as a jQuery event
  // only: a native listener does not hear it.
  if (window.django && window.django.jQuery) {
    window.django.jQuery(participant).on("select2:select select2:clear", refresh);
  }
  if (date) {
    date.addEventListener("change", refresh);
  }
});
