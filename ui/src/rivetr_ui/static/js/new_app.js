// New-app form: pick a repository of a connected git account (fills the git URL and branch).
(function () {
  "use strict";
  var picker = document.getElementById("repo-picker");
  if (!picker) return;
  var account = document.getElementById("repo-account");
  var search = document.getElementById("repo-search");
  var results = document.getElementById("repo-results");
  var timer = null;

  async function loadRepos() {
    results.textContent = "";
    if (!account.value) return;
    try {
      var q = new URLSearchParams({ limit: "20" });  // the first page: narrow it with the search box
      if (search.value.trim()) q.set("search", search.value.trim());
      var page = await Rivetr.api("GET", "/api/git-providers/" + encodeURIComponent(account.value) + "/repos?" + q);
      page.items.forEach(function (r) {
        var li = document.createElement("li");
        var name = document.createElement("strong"); name.textContent = r.full_name;
        var meta = document.createElement("span"); meta.className = "muted small";
        meta.textContent = (r.private ? "private · " : "") + (r.default_branch || "");
        var use = document.createElement("button"); use.type = "button"; use.className = "btn small"; use.textContent = "Use";
        use.addEventListener("click", function () {
          document.getElementById("git_url").value = r.clone_url;
          if (r.default_branch) document.getElementById("branch").value = r.default_branch;
          var nameInput = document.getElementById("name");
          if (!nameInput.value) nameInput.value = r.full_name.split("/").pop().toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
          document.getElementById("git_url").focus();
        });
        li.appendChild(name); li.appendChild(meta); li.appendChild(use);
        results.appendChild(li);
      });
      if (!page.items.length) results.textContent = "No repositories match.";
    } catch (err) { results.textContent = err.message; }
  }

  Rivetr.listAll("/api/git-providers").then(function (accounts) {
    if (!accounts.length) return;
    accounts.forEach(function (a) {
      var o = document.createElement("option"); o.value = a.id; o.textContent = a.provider + ": " + a.login;
      account.appendChild(o);
    });
    picker.hidden = false;
    loadRepos();
  }).catch(function () { /* git providers not available: the URL field alone works */ });
  account.addEventListener("change", loadRepos);
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(loadRepos, 250); });
})();
