// The dashboard's own script (no inline script: the Content-Security-Policy forbids it).
// Checks a signal's JSON payload before the form is sent, and asks before forms marked
// data-confirm (a cancel) are sent. The server checks both again.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var payload = form.querySelector("textarea[name=payload]");
  if (payload) {
    var problem = form.querySelector("#payload-error");
    try {
      JSON.parse(payload.value.trim() === "" ? "null" : payload.value);
      if (problem) { problem.hidden = true; problem.textContent = ""; }
    } catch (err) {
      event.preventDefault();
      if (problem) { problem.hidden = false; problem.textContent = "The payload is not JSON: " + err.message; }
      return;
    }
  }
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
