// Repository checks: a [data-git-check] button asks the server whether the repository answers and has the branch
// (POST /api/git/check, git ls-remote with the form's SSH key or token, else the app's own: data-app-id) and fills
// the branch suggestions. Its data-* attributes name the inputs it reads and where it answers. The new-app form
// runs the same check before creating; when it fails the message says why, and pressing "Create app" again
// creates it anyway (the repository may be unreachable from here only for now).
(function () {
  "use strict";

  function checker(button) {
    var d = button.dataset;
    var result = document.getElementById(d.result);
    var list = document.getElementById(d.list);
    function value(id) { var el = id && document.getElementById(id); return el ? el.value.trim() : ""; }
    function inputs() {
      var body = { git_url: value(d.url) };
      if (value(d.branch)) body.branch = value(d.branch);
      if (value(d.key)) body.ssh_key_id = value(d.key);
      if (value(d.token)) body.git_token = value(d.token);
      if (value(d.tokenUser)) body.git_token_user = value(d.tokenUser);
      if (d.appId) body.app_id = d.appId;
      if (d.stackId) body.stack_id = d.stackId;  // a compose stack's settings: its stored key or token
      return body;
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
    return { check: check, show: show, inputs: inputs, result: result };
  }

  document.querySelectorAll("[data-git-check]").forEach(function (button) {
    var c = checker(button);
    button.addEventListener("click", function () { c.check(); });
    var form = button.dataset.checkBeforeSubmit ? button.closest("form") : null;
    if (!form) return;
    var accepted = null;  // the inputs whose failed check the user chose to ignore
    function usingGit() {
      var kind = form.querySelector("input[name='source.kind']:checked");
      return !kind || kind.value === "git";
    }
    // Before the generic form handler (on the document): the form's own listener runs first.
    form.addEventListener("submit", async function (ev) {
      if (!usingGit() || form.dataset.checked === "yes") { delete form.dataset.checked; return; }
      ev.preventDefault();
      ev.stopPropagation();
      var signature = JSON.stringify(c.inputs());
      var answer = signature === accepted ? { ok: true } : await c.check();
      if (answer && !answer.ok) {
        accepted = signature;
        c.show(c.result.textContent + " Press “Create app” again to create it anyway.", false);
        return;
      }
      // Checked, or refused as input: creating names the wrong fields where they are.
      if (!answer) c.show("", true);
      form.dataset.checked = "yes";
      // In a task of its own: while this submit event is still being dispatched the browser ignores requestSubmit.
      setTimeout(function () { form.requestSubmit(); }, 0);
    });
  });
})();
