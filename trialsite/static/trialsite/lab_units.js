// The lab inlines' unit list follows the analyte: only the analyte's accepted units are offered
// (the catalogue comes from trialsite/labs.py as the analyte select's data-lab-units). The server
// checks the pair anyway (LabResult.clean); a unit that no longer fits is cleared, never guessed.
(function () {
  "use strict";

  function unitSelectFor(analyteSelect) {
    var name = analyteSelect.name.replace(/analyte$/, "unit");
    return analyteSelect.form ? analyteSelect.form.querySelector('select[name="' + name + '"]') : null;
  }

  function filterUnits(analyteSelect) {
    var unitSelect = unitSelectFor(analyteSelect);
    if (!unitSelect) return;
    var catalogue = JSON.parse(analyteSelect.dataset.labUnits || "{}");
    var accepted = catalogue[analyteSelect.value] || null;
    Array.prototype.forEach.call(unitSelect.options, function (option) {
      var offered = option.value === "" || accepted === null || accepted.indexOf(option.value) !== -1;
      option.hidden = !offered;
      option.disabled = !offered;
    });
    if (unitSelect.selectedOptions.length && unitSelect.selectedOptions[0].disabled) {
      unitSelect.value = "";
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-lab-units]")) filterUnits(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-lab-units]").forEach(filterUnits);
  });
  // Rows added with "Add another" start with no analyte: every unit is offered until one is chosen.
})();
