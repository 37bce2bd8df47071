// Starts GraphiQL on the GraphQL endpoint this page was served from (templates/graphene/graphiql.html).
// A file of its own rather than an inline script: the Content-Security-Policy allows scripts of this origin
// only. The query and variables live in the URL fragment (#query=...&variables=...), so a link shares them.
(function () {
  "use strict";

  // GraphiQL's dialogs add a <style> element (to lock scrolling); the bundled helper that creates it sets this
  // global as its nonce, which the Content-Security-Policy of this page allows.
  window.__webpack_nonce__ = document.querySelector("meta[name=argus-csp-nonce]").content;

  var root = document.getElementById("graphiql");
  var options = root.dataset;

  function readFragment() {
    var parameters = {};
    window.location.hash
      .slice(1)
      .split("&")
      .forEach(function (entry) {
        var eq = entry.indexOf("=");
        if (eq > 0) {
          parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
        }
      });
    return parameters;
  }

  var parameters = readFragment();

  function writeFragment() {
    var fragment = Object.keys(parameters)
      .filter(function (key) {
        return parameters[key];
      })
      .map(function (key) {
        return encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]);
      })
      .join("&");
    window.history.replaceState(null, "", fragment ? "#" + fragment : window.location.pathname);
  }

  function remember(key) {
    return function (value) {
      parameters[key] = value;
      writeFragment();
    };
  }

  // A browser session's requests carry Django's CSRF token (the view checks it for session-authenticated
  // POSTs); a request with an Authorization header set in the headers editor is checked by its token instead.
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      return decodeURIComponent(match[1]);
    }
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  var fetcher = window.GraphiQL.createFetcher({
    url: window.location.pathname,
    headers: { "X-CSRFToken": csrfToken() },
  });

  var props = {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: options.headerEditorEnabled === "true",
    shouldPersistHeaders: options.shouldPersistHeaders === "true",
    inputValueDeprecation: options.inputValueDeprecation === "true",
    onEditQuery: remember("query"),
    onEditVariables: remember("variables"),
    onEditOperationName: remember("operationName"),
  };
  if (parameters.query) {
    props.query = parameters.query;
  }
  if (parameters.variables) {
    props.variables = parameters.variables;
  }
  if (parameters.operationName) {
    props.operationName = parameters.operationName;
  }

  window.ReactDOM.createRoot(root).render(window.React.createElement(window.GraphiQL, props));
})();
