// vigie's managers' page: the reply length counter and keyboard shortcuts. The page
// works without this script; it only adds comfort.
(function () {
  "use strict";

  function updateCounter(counter) {
    var area = document.getElementById(counter.getAttribute("data-counter-for"));
    if (!area) return;
    var limit = parseInt(area.getAttribute("data-limit"), 10) || 0;
    var length = Array.from(area.value).length;
    counter.textContent = length + " / " + limit + " " + counter.getAttribute("data-unit");
    counter.classList.toggle("over", limit > 0 && length > limit);
  }

  function counters() {
    document.querySelectorAll("[data-counter-for]").forEach(function (counter) {
      var area = document.getElementById(counter.getAttribute("data-counter-for"));
      if (area && !area.dataset.counted) {
        area.dataset.counted = "1";
        area.addEventListener("input", function () { updateCounter(counter); });
      }
      updateCounter(counter);
    });
  }

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function move(step) {
    var links = Array.from(document.querySelectorAll(".row-link"));
    if (links.length === 0) return;
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(at + step, 0), links.length - 1);
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key === "j") { move(1); e.preventDefault(); }
    else if (e.key === "k") { move(-1); e.preventDefault(); }
    else if (e.key === "a") {
      var approve = document.querySelector("button[data-key=approve]");
      if (approve) { approve.click(); e.preventDefault(); }
    } else if (e.key === "r") {
      var reason = document.querySelector("input[data-key=reject-reason]");
      if (reason) { reason.focus(); e.preventDefault(); }
    }
  });

  document.addEventListener("DOMContentLoaded", counters);
  document.addEventListener("htmx:afterSwap", counters);
})();
