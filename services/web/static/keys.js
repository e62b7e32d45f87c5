// Keyboard: "/" focuses the search box (unless typing in a field already).
document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (e.key === "/" && !(t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable))) {
    var q = document.getElementById("q");
    if (q) { e.preventDefault(); q.focus(); q.select(); }
  }
});
