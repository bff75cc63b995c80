// OIDC Front-Channel Logout: each application's logout URI is loaded in a hidden iframe; once all have
// loaded (or after a few seconds, whichever is first) the browser returns to the application that asked.
// A file, not an inline script, so the page keeps a CSP without 'unsafe-inline'.
(function () {
  var link = document.getElementById("return-to");
  var frames = Array.prototype.slice.call(document.querySelectorAll("iframe.logout-frame"));
  var waiting = frames.length;
  var gone = false;
  function leave() {
    if (!gone && link) { gone = true; window.location.assign(link.getAttribute("data-return-to")); }
  }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { waiting -= 1; if (waiting <= 0) { leave(); } });
  });
  window.setTimeout(leave, 4000);
})();
