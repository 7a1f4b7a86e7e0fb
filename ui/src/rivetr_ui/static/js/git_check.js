// New-app form: "Check" asks the server whether the repository answers and has the branch (POST /api/git/check,
// git ls-remote with the form's SSH key or token) and fills the branch suggestions. Creating an app runs the same
// check first; when it fails the message says why, and pressing "Create app" again creates it anyway (the
// repository may be unreachable from here only for now).
(function () {
  "use strict";
  var form = document.getElementById("new-app-form");
  var button = document.getElementById("git-check");
  if (!form || !button) return;
  var result = document.getElementById("git-check-result");
  var list = document.getElementById("branch-list");
  var accepted = null;  // the inputs whose failed check the user chose to ignore

  function value(id) { var el = document.getElementById(id); return el ? el.value.trim() : ""; }
  function inputs() {
    var body = { git_url: value("git_url") };
    if (value("branch")) body.branch = value("branch");
    if (value("ssh_key_id")) body.ssh_key_id = value("ssh_key_id");
    if (value("git_token")) body.git_token = value("git_token");
    if (value("git_token_user")) body.git_token_user = value("git_token_user");
    return body;
  }
  function usingGit() {
    var kind = form.querySelector("input[name='source.kind']:checked");
    return !kind || kind.value === "git";
  }
  function show(text, ok) {
    result.textContent = text;
    result.className = ok ? "hint" : "field-error";
    result.hidden = !text;
  }

  async function check() {
    var body = inputs();
    if (!body.git_url) { show("Enter the repository's URL first.", false); return null; }
    button.disabled = true;
    show("Checking…", true);
    try {
      var answer = await Rivetr.api("POST", "/api/git/check", body);
      list.textContent = "";
      answer.branches.forEach(function (b) {
        var o = document.createElement("option"); o.value = b;
        if (b === answer.default_branch) o.label = "default";
        list.appendChild(o);
      });
      if (answer.ok) {
        var count = answer.branches.length + (answer.branches.length === 1 ? " branch" : " branches");
        show(body.branch ? "Branch " + body.branch + " found (" + count + ")." : count + "; default " + answer.default_branch + ".", true);
      } else {
        show(answer.error, false);
      }
      return answer;
    } catch (err) {
      show(err.message, false);  // refused input: the message names the field
      return null;
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", function () { check(); });
  // Before the generic form handler (on the document): the form's own listener runs first.
  form.addEventListener("submit", async function (ev) {
    if (!usingGit() || form.dataset.checked === "yes") { delete form.dataset.checked; return; }
    ev.preventDefault();
    ev.stopPropagation();
    var signature = JSON.stringify(inputs());
    var answer = signature === accepted ? { ok: true } : await check();
    if (answer && !answer.ok) {
      accepted = signature;
      show(result.textContent + " Press “Create app” again to create it anyway.", false);
      return;
    }
    // Checked, or refused as input: creating names the wrong fields where they are.
    if (!answer) show("", true);
    form.dataset.checked = "yes";
    // In a task of its own: while this submit event is still being dispatched the browser ignores requestSubmit.
    setTimeout(function () { form.requestSubmit(); }, 0);
  });
})();
