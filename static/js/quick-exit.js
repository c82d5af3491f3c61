// Quick exit: leave at once for a neutral site, replacing this page in the tab's history.
// It cannot erase browser history; the page says so next to the button.
(function () {
  "use strict";
  var target = document.body.getAttribute("data-quick-exit");
  if (!target) { return; }
  var shiftPresses = [];

  function leave(event) {
    if (event) { event.preventDefault(); }
    document.body.textContent = "";
    document.title = "";
    window.location.replace(target);
  }

  var button = document.getElementById("quick-exit");
  if (button) { button.addEventListener("click", leave); }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { leave(event); return; }
    if (event.key === "Shift" && !event.repeat) {
      var now = Date.now();
      shiftPresses = shiftPresses.filter(function (t) { return now - t < 1500; });
      shiftPresses.push(now);
      if (shiftPresses.length >= 3) { leave(event); }
    }
  });
})();
