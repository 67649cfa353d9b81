import Countersign
import Foundation
import Hummingbird
import Mustache

/// The web app's templates (Mustache, HTML-escaped by default), style sheet and script.
///
/// Templates are compiled once, at start; a template that does not compile is a programming error
/// caught by every test that renders a page.
enum WebPages {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            // swift-format-ignore: NeverUseForceTry
            library.register(try! MustacheTemplate(string: text), named: name)
        }
        return library
    }()

    /// Renders a page in the layout.
    static func page(
        _ template: String,
        title: String,
        _ data: [String: Any],
        user: [String: Any]? = nil,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) -> Response {
        let body = library.render(data, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "body": body]
        if let user { layout["user"] = user }
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        return Response(
            status: status,
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: library.render(layout, withTemplate: "layout") ?? ""))
        )
    }

    /// A fragment (inbox rows), without the layout.
    static func fragment(_ template: String, _ data: [String: Any]) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: library.render(data, withTemplate: template) ?? ""))
        )
    }

    static func redirect(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.location] = location
        return Response(status: .seeOther, headers: fields)
    }

    static func error(status: HTTPResponse.Status, title: String, detail: String) -> Response {
        page("error", title: title, ["title": title, "detail": detail], status: status)
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "no-cache"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    // MARK: Templates

    static let templates: [String: String] = [
        "layout": """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Countersign</title>
        <link rel="stylesheet" href="/static/app.css">
        <script src="/static/app.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="bar">
          <a class="brand" href="/inbox">Countersign</a>
          {{#user}}
          <nav aria-label="Main"><a href="/inbox">Inbox</a> <a href="/runs">Runs</a> <a href="/history">History</a> <a href="/agents">Agents</a> <a href="/connections">Accounts</a> <a href="/audit">Audit</a></nav>
          <form method="post" action="/sign-out" class="signout">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <span class="who">{{email}}</span> <button type="submit" class="quiet">Sign out</button>
          </form>
          {{/user}}
        </header>
        <main id="main">
        {{{body}}}
        </main>
        </body>
        </html>
        """,
        "error": """
        <h1>{{title}}</h1>
        <p class="notice" role="alert">{{detail}}</p>
        <p><a href="/inbox">Back to the inbox</a></p>
        """,
        "sign-in": """
        <section class="narrow">
        <h1>Sign in</h1>
        <p class="lede">Approvers sign in to review what agents ask to do.</p>
        {{#error}}<p class="notice" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/sign-in" class="stack">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="next" value="{{next}}">
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="username" required value="{{email}}">
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required>
          <button type="submit" class="primary">Continue</button>
        </form>
        {{#oidc}}<p class="or">or</p><p><a class="button" href="/sign-in/oidc?next={{next}}">Sign in with {{name}}</a></p>{{/oidc}}
        </section>
        """,
        "sign-in-code": """
        <section class="narrow">
        <h1>Your authenticator code</h1>
        <p class="lede">Enter the six-digit code your authenticator app shows for Countersign.</p>
        {{#error}}<p class="notice" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/sign-in/code" class="stack">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="pending" value="{{pending}}">
          <input type="hidden" name="next" value="{{next}}">
          <label for="code">Code</label>
          <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
          <button type="submit" class="primary">Sign in</button>
        </form>
        </section>
        """,
        "inbox": """
        <h1>Waiting for a decision</h1>
        <form method="get" action="/inbox" class="filters" aria-label="Filter requests">
          <label for="level">Risk</label>
          <select id="level" name="level">
            {{#levels}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/levels}}
          </select>
          <label for="agent">Agent</label>
          <input id="agent" name="agent" value="{{agent}}" size="14">
          <button type="submit">Filter</button>
        </form>
        <div class="table-wrap">
        <table class="requests">
          <caption>Pending requests, newest first. The list updates itself.</caption>
          <thead><tr><th scope="col">Risk</th><th scope="col">Operation</th><th scope="col">Target</th><th scope="col">Agent</th><th scope="col">For</th><th scope="col">Age</th><th scope="col">Expires in</th></tr></thead>
          <tbody id="rows" data-live="/inbox/rows?{{query}}">
          {{> rows}}
          </tbody>
        </table>
        </div>
        <p id="live-status" class="muted" aria-live="polite"></p>
        """,
        "rows": """
        {{#requests}}
        <tr data-id="{{id}}">
          <td><span class="badge level-{{level}}">{{levelTitle}}</span></td>
          <td><a href="/approvals/{{id}}">{{operation}}</a>{{#isSandbox}} <span class="badge sandbox" title="Runs against a sandbox that ships with Countersign, not the real service">{{sandbox}}</span>{{/isSandbox}}</td>
          <td class="wrap">{{target}}</td>
          <td>{{agent}}</td>
          <td>{{principal}}</td>
          <td><time datetime="{{createdAt}}">{{age}}</time></td>
          <td><span class="countdown" data-expires="{{expiresAt}}">{{remaining}}</span></td>
        </tr>
        {{/requests}}
        {{^requests}}<tr><td colspan="7" class="empty">Nothing is waiting for a decision.</td></tr>{{/requests}}
        """,
        "history": """
        <h1>Decided and expired</h1>
        <div class="table-wrap">
        <table class="requests">
          <caption>The latest requests that no longer wait for a decision.</caption>
          <thead><tr><th scope="col">Risk</th><th scope="col">Operation</th><th scope="col">Target</th><th scope="col">Agent</th><th scope="col">For</th><th scope="col">State</th><th scope="col">Proposed</th></tr></thead>
          <tbody>
          {{#requests}}
          <tr>
            <td><span class="badge level-{{level}}">{{levelTitle}}</span></td>
            <td><a href="/approvals/{{id}}">{{operation}}</a>{{#isSandbox}} <span class="badge sandbox" title="Runs against a sandbox that ships with Countersign, not the real service">{{sandbox}}</span>{{/isSandbox}}</td>
            <td class="wrap">{{target}}</td>
            <td>{{agent}}</td>
            <td>{{principal}}</td>
            <td><span class="state state-{{state}}">{{stateText}}</span></td>
            <td><time datetime="{{createdAt}}">{{age}}</time></td>
          </tr>
          {{/requests}}
          {{^requests}}<tr><td colspan="7" class="empty">No decided requests yet.</td></tr>{{/requests}}
          </tbody>
        </table>
        </div>
        """,
        "runs": """
        <h1>Runs</h1>
        <p class="lede">Goals carried out as plans of gated actions; every step waits in the inbox like any request.</p>
        <div class="table-wrap">
        <table class="requests">
          <caption>The latest runs, newest first.</caption>
          <thead><tr><th scope="col">Goal</th><th scope="col">State</th><th scope="col">Steps</th><th scope="col">Under way</th><th scope="col">Planner</th><th scope="col">Agent</th><th scope="col">For</th><th scope="col">Changed</th></tr></thead>
          <tbody>
          {{#runs}}
          <tr><td class="wrap"><a href="/runs/{{id}}">{{goal}}</a></td><td><span class="state state-{{state}}">{{state}}</span></td><td>{{steps}}</td><td>{{waiting}}</td><td>{{planner}}</td><td>{{agent}}</td><td>{{principal}}</td><td><time datetime="{{updatedAt}}">{{age}}</time></td></tr>
          {{/runs}}
          {{^runs}}<tr><td colspan="8" class="empty">No runs yet.</td></tr>{{/runs}}
          </tbody>
        </table>
        </div>
        """,
        "run": """
        <p class="crumbs"><a href="/runs">Runs</a></p>
        <h1>{{goal}}</h1>
        <p class="state-line">State: <strong class="state state-{{state}}">{{state}}</strong> · for <strong>{{principal}}</strong> · agent <strong>{{agent}}</strong> · planner <strong>{{planner}}</strong></p>
        {{#flash}}<p class="notice" role="alert">{{flash}}</p>{{/flash}}
        {{#failure}}<p class="notice" role="alert">The run failed: {{failure}}</p>{{/failure}}
        {{#summary}}<section class="card agent-words" aria-labelledby="summary-h"><h2 id="summary-h">The planner's last words</h2><blockquote>{{summary}}</blockquote><p class="muted">Written by the planner; Countersign has not checked them.</p></section>{{/summary}}
        <form method="post" action="/runs/{{id}}/approve">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="table-wrap">
        <table class="requests run-steps">
          <caption>The plan, step by step. The impact is written by Countersign's connectors from each step's payload; the rationale is the planner's own words.</caption>
          <thead><tr><th scope="col">#</th><th scope="col">Risk</th><th scope="col">Operation</th><th scope="col">What it does</th><th scope="col">State</th><th scope="col">Planner's rationale</th><th scope="col">Approve</th></tr></thead>
          <tbody>
          {{#steps}}
          <tr data-step="{{index}}">
            <td>{{index}}</td>
            <td>{{#level}}<span class="badge level-{{level}}">{{levelTitle}}</span>{{/level}}</td>
            <td>{{#request}}<a href="/approvals/{{request}}">{{operation}}</a>{{/request}}{{^request}}{{operation}}{{/request}}<div class="muted wrap">{{target}}</div></td>
            <td class="wrap">{{impact}}</td>
            <td><span class="state state-{{state}}">{{stateText}}</span>{{#failure}}<div class="muted wrap">{{failure}}</div>{{/failure}}</td>
            <td class="wrap"><q>{{rationale}}</q></td>
            <td>{{#batchable}}<label><input type="checkbox" name="approve-{{request}}" value="{{digest}}" checked> <span class="visually-hidden">Approve step {{index}}</span></label>{{/batchable}}{{#alone}}<a href="/approvals/{{request}}">Decide on its page</a>{{/alone}}</td>
          </tr>
          {{/steps}}
          {{^steps}}<tr><td colspan="7" class="empty">The planner has not proposed a step yet.</td></tr>{{/steps}}
          </tbody>
        </table>
        </div>
        {{#hasBatch}}<p><button type="submit" class="primary" data-confirm="Approve the ticked steps? Each runs once, exactly as shown.">Approve the ticked Low and Medium steps ({{batch}})</button> <span class="muted">High and Critical steps are approved one at a time, on their own page.</span></p>{{/hasBatch}}
        </form>
        """,
        "agents": """
        <h1>Agents</h1>
        {{#flash}}<p class="notice" role="alert">{{flash}}</p>{{/flash}}
        {{#created}}
        <section class="card key-once" aria-labelledby="key-h">
          <h2 id="key-h">The key of {{name}}</h2>
          <p>Copy it now: it is shown this once, and Countersign keeps only its hash.</p>
          <p><code id="new-key">{{key}}</code></p>
        </section>
        {{/created}}
        <div class="table-wrap">
        <table class="requests">
          <caption>Agents propose actions with their key; they never receive a token.</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Key id</th><th scope="col">Created</th><th scope="col">Status</th>{{#admin}}<th scope="col"><span class="visually-hidden">Actions</span></th>{{/admin}}</tr></thead>
          <tbody>
          {{#agents}}
          <tr><td>{{name}}</td><td><code>{{keyID}}</code></td><td>{{created}}</td>
            <td>{{#active}}active{{/active}}{{^active}}revoked {{revoked}}{{/active}}</td>
            {{#admin}}<td>{{#active}}<form method="post" action="/agents/{{name}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger" data-confirm="Revoke the key of {{name}}? It stops working at once.">Revoke</button></form>{{/active}}</td>{{/admin}}
          </tr>
          {{/agents}}
          {{^agents}}<tr><td colspan="5" class="empty">No agents yet.</td></tr>{{/agents}}
          </tbody>
        </table>
        </div>
        {{#admin}}
        <form method="post" action="/agents" class="card stack narrow-form" aria-labelledby="new-agent-h">
          <h2 id="new-agent-h">New agent</h2>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="agent-name">Name</label>
          <input id="agent-name" name="name" required pattern="[a-z0-9][a-z0-9._-]{0,63}" placeholder="release-bot">
          <button type="submit" class="primary">Create and show its key</button>
        </form>
        {{/admin}}
        """,
        "connections": """
        <h1>Connected accounts</h1>
        <p class="lede">The vault keeps each account's refresh token sealed and vends a short-lived token only to an approved action, for exactly its scopes.</p>
        {{#flash}}<p class="notice" role="alert">{{flash}}</p>{{/flash}}
        {{#sealed}}<p class="notice" role="alert">The vault is sealed: {{sealed}}</p>{{/sealed}}
        <div class="table-wrap">
        <table class="requests">
          <caption>{{#admin}}Everyone's connected accounts.{{/admin}}{{^admin}}Your connected accounts.{{/admin}}</caption>
          <thead><tr><th scope="col">Provider</th><th scope="col">Account</th><th scope="col">For</th><th scope="col">Scopes</th><th scope="col">Status</th><th scope="col">Connected</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
          {{#connections}}
          <tr><td>{{provider}}</td><td class="wrap">{{account}}</td><td>{{principal}}</td><td class="wrap"><code>{{scopes}}</code></td>
            <td>{{#healthy}}{{status}}{{/healthy}}{{^healthy}}<strong>{{status}}</strong>{{/healthy}}</td><td>{{created}}</td>
            <td><form method="post" action="/connections/{{id}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger" data-confirm="Disconnect {{provider}} ({{account}}) and revoke it at the provider?">Disconnect</button></form></td></tr>
          {{/connections}}
          {{^connections}}<tr><td colspan="7" class="empty">No connected accounts.</td></tr>{{/connections}}
          </tbody>
        </table>
        </div>
        {{#hasProviders}}
        <form method="post" action="/connections/connect" class="card stack narrow-form" aria-labelledby="connect-h">
          <h2 id="connect-h">Connect an account of yours ({{email}})</h2>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label for="provider">Provider</label>
          <select id="provider" name="provider">{{#providers}}<option>{{name}}</option>{{/providers}}</select>
          <label for="scopes">Scopes to grant (space or comma separated)</label>
          <input id="scopes" name="scopes" required placeholder="repo read:user">
          <button type="submit" class="primary">Continue at the provider</button>
        </form>
        {{/hasProviders}}
        """,
        "audit": """
        <h1>Audit log</h1>
        <p class="notice {{#intact}}ok{{/intact}}" role="status">{{verification}}</p>
        {{#checkpoint}}<p>Latest signed checkpoint: {{size}} entries, head <code>{{head}}</code>, signed {{signedAt}} by key <code>{{keyID}}</code> ({{#valid}}signature valid{{/valid}}{{^valid}}signature INVALID{{/valid}}).</p>{{/checkpoint}}
        {{^checkpoint}}<p>No signed checkpoint yet; one is written every minute while the log grows.</p>{{/checkpoint}}
        <form method="get" action="/audit" class="filters" aria-label="Filter entries">
          <label for="f-request">Request</label><input id="f-request" name="request" value="{{request}}" size="14">
          <label for="f-agent">Agent</label><input id="f-agent" name="agent" value="{{agent}}" size="10">
          <label for="f-actor">Actor</label><input id="f-actor" name="actor" value="{{actor}}" size="14">
          <button type="submit">Filter</button>
        </form>
        <div class="table-wrap">
        <table class="requests audit">
          <caption>{{size}} entries in all; the latest matching ones first.</caption>
          <thead><tr><th scope="col">#</th><th scope="col">At</th><th scope="col">Kind</th><th scope="col">Actor</th><th scope="col">Request</th><th scope="col">Data</th></tr></thead>
          <tbody>
          {{#entries}}<tr><td>{{sequence}}</td><td><time datetime="{{at}}">{{at}}</time></td><td>{{kind}}</td><td class="wrap">{{actor}}</td><td>{{#request}}<a href="/approvals/{{request}}">{{request}}</a>{{/request}}</td><td class="wrap"><details><summary><code>{{summary}}</code></summary><pre class="payload">{{{data}}}</pre></details></td></tr>{{/entries}}
          {{^entries}}<tr><td colspan="6" class="empty">No matching entries.</td></tr>{{/entries}}
          </tbody>
        </table>
        </div>
        """,
        "request": """
        <p class="crumbs"><a href="/inbox">Inbox</a>{{#runID}} · <a href="/runs/{{runID}}">its run</a>{{/runID}}</p>
        <h1><span class="badge level-{{level}}">{{levelTitle}}</span> {{operation}}{{#isSandbox}} <span class="badge sandbox" title="Runs against a sandbox that ships with Countersign, not the real service">{{sandbox}}</span>{{/isSandbox}}</h1>
        <p class="state-line">State: <strong class="state state-{{state}}">{{stateText}}</strong>{{#pending}} · expires in <span class="countdown" data-expires="{{expiresAt}}">{{remaining}}</span>{{/pending}}</p>
        {{#flash}}<p class="notice" role="alert">{{flash}}</p>{{/flash}}
        {{#tampered}}<p class="notice" role="alert">The stored payload no longer matches the digest recorded when it was proposed. It can only be denied.</p>{{/tampered}}

        <section aria-labelledby="impact-h" class="card">
          <h2 id="impact-h">What it does</h2>
          <p class="impact">{{impact}}</p>
          <p class="muted">Written by Countersign's {{connector}} connector from the payload below, not by the agent.</p>
        </section>

        {{#agentReason}}
        <section aria-labelledby="agent-h" class="card agent-words">
          <h2 id="agent-h">The agent's own words</h2>
          <blockquote>{{agentReason}}</blockquote>
          <p class="muted">Stated by the agent {{agent}}; Countersign has not checked them.</p>
        </section>
        {{/agentReason}}

        <section aria-labelledby="why-h" class="card">
          <h2 id="why-h">Why it is {{levelTitle}}</h2>
          <ul class="reasons">
            {{#reasons}}<li><span class="badge level-{{level}}">{{levelTitle}}</span> {{text}} <span class="source">({{source}})</span></li>{{/reasons}}
          </ul>
        </section>

        <section aria-labelledby="access-h" class="card">
          <h2 id="access-h">Access it gets</h2>
          <p>Only after approval, Countersign obtains a token for exactly these scopes, for this one payload, and runs the action itself; the agent never holds it.</p>
          <ul class="scopes">
            {{#scopes}}<li><code>{{name}}</code> — {{meaning}}</li>{{/scopes}}
          </ul>
          {{#token}}<p>Token from: {{token}}</p>{{/token}}
        </section>

        <section aria-labelledby="payload-h" class="card">
          <h2 id="payload-h">Exact payload</h2>
          <p class="muted">Acting for <strong>{{principal}}</strong>, proposed by the agent <strong>{{agent}}</strong>. Long values are folded; open them to read them whole.</p>
          <pre class="payload">{{{payload}}}</pre>
          <p class="digest">Digest <code>{{digest}}</code></p>
        </section>

        {{#edit}}
        <section aria-labelledby="edit-h" class="card edited">
          <h2 id="edit-h">Edited by {{editor}}</h2>
          <p>The agent proposed something else; the payload above is the edit, and the agent will be told which arguments changed. The agent's own digest was <code>{{originalDigest}}</code>.</p>
          <table class="diff"><caption>What changed</caption>
            <thead><tr><th scope="col">Argument</th><th scope="col">Proposed by the agent</th><th scope="col">As edited</th></tr></thead>
            <tbody>{{#changes}}<tr><th scope="row"><code>{{path}}</code></th><td><pre class="payload before">{{{before}}}</pre></td><td><pre class="payload after">{{{after}}}</pre></td></tr>{{/changes}}</tbody>
          </table>
        </section>
        {{/edit}}

        {{#editable}}
        <details class="card" id="edit-details">
          <summary>Edit the arguments before approving</summary>
          <form method="post" action="/approvals/{{id}}/edit" class="stack">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="digest" value="{{digest}}">
            <label for="arguments">Arguments (JSON). The edit is checked against the operation's schema and rated again; it can raise the risk, never lower it.</label>
            <textarea id="arguments" name="arguments" rows="8" spellcheck="false">{{argumentsText}}</textarea>
            <button type="submit" id="save-edit">Save the edit</button>
          </form>
        </details>
        {{/editable}}

        {{#hasDecisions}}
        <section aria-labelledby="decisions-h" class="card">
          <h2 id="decisions-h">Decisions</h2>
          <ul>{{#decisions}}<li>{{verdict}} by {{approver}} ({{authentication}}) at <time datetime="{{decidedAt}}">{{decidedAt}}</time>{{#reason}}: “{{reason}}”{{/reason}}</li>{{/decisions}}</ul>
        </section>
        {{/hasDecisions}}

        {{#result}}
        <section aria-labelledby="result-h" class="card">
          <h2 id="result-h">Result</h2>
          <pre class="payload">{{{result}}}</pre>
        </section>
        {{/result}}
        {{#failure}}<p class="notice">{{failure}}</p>{{/failure}}

        {{#pending}}
        <div class="decide">
        <form method="post" action="/approvals/{{id}}/approve" class="card stack" id="approve-form" aria-labelledby="approve-h">
          <h2 id="approve-h">Approve</h2>
          <p>Approving authorizes a token for <strong>{{scopeList}}</strong> for this exact payload (digest <code>{{shortDigest}}</code>), {{approvalsText}}.</p>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="digest" value="{{digest}}">
          {{#confirmText}}
          <label for="confirm">Type <strong class="confirm-text">{{confirmText}}</strong> to confirm</label>
          <input id="confirm" name="confirm" autocomplete="off" autocapitalize="off" spellcheck="false" required>
          {{/confirmText}}
          {{#steppedUp}}<p class="notice">{{steppedUp}}</p>{{/steppedUp}}
          {{#stepUpTOTP}}
          <label for="otp">Step-up: a fresh code from your authenticator</label>
          <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
          {{/stepUpTOTP}}
          {{#stepUpHelp}}<p>{{stepUpHelp}}</p>{{/stepUpHelp}}
          <button type="submit" class="primary" id="approve" data-confirm="Approve {{operation}} for {{principal}}?">Approve <kbd>a</kbd></button>
        </form>
        {{#stepUpOIDC}}
        <form method="post" action="/approvals/{{id}}/step-up" class="card stack" aria-labelledby="stepup-h">
          <h2 id="stepup-h">Step up</h2>
          <p>Authenticate afresh with {{stepUpOIDC}}; you come back here to approve.</p>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <button type="submit" id="step-up">Step up with {{stepUpOIDC}}</button>
        </form>
        {{/stepUpOIDC}}
        <form method="post" action="/approvals/{{id}}/deny" class="card stack" id="deny-form" aria-labelledby="deny-h">
          <h2 id="deny-h">Deny</h2>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="digest" value="{{digest}}">
          <label for="reason">Reason (the agent receives it)</label>
          <textarea id="reason" name="reason" rows="2" required maxlength="2000"></textarea>
          <button type="submit" class="danger" id="deny">Deny <kbd>d</kbd></button>
        </form>
        </div>
        {{/pending}}
        """,
    ]

    // MARK: Assets

    static let css = """
        :root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
          --accent: #1f5fbf; --low: #1e6b3a; --medium: #7a5200; --high: #a3330b; --critical: #8c1030; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
        a { color: var(--accent); }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
        .bar { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: center; padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; text-decoration: none; color: var(--ink); }
        .bar nav a { margin-right: 12px; }
        .signout { margin-left: auto; display: flex; gap: 8px; align-items: center; }
        .who { color: var(--muted); font-size: 14px; overflow-wrap: anywhere; }
        main { max-width: 980px; margin: 0 auto; padding: 20px; }
        h1 { font-size: 24px; margin: 8px 0 16px; } h2 { font-size: 18px; margin: 0 0 8px; }
        .narrow { max-width: 380px; margin: 40px auto; }
        .lede, .muted { color: var(--muted); }
        .stack { display: flex; flex-direction: column; gap: 8px; }
        input, select, textarea, button { font: inherit; }
        input, select, textarea { padding: 8px; border: 1px solid #8a93a3; border-radius: 6px; background: #fff; color: var(--ink); }
        button { padding: 8px 14px; border-radius: 6px; border: 1px solid #8a93a3; background: #fff; color: var(--ink); cursor: pointer; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        button.danger { background: #fff; border-color: var(--critical); color: var(--critical); }
        button.quiet { padding: 4px 10px; }
        :focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
        a.button { display: inline-block; padding: 8px 14px; border-radius: 6px; border: 1px solid #8a93a3; background: #fff; color: var(--ink); text-decoration: none; }
        .or { color: var(--muted); text-align: center; margin: 12px 0 4px; }
        .notice { background: #fff4e5; border: 1px solid #e0a13a; border-radius: 6px; padding: 10px 12px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 0 0 14px; }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 13px; font-weight: 600; color: #fff; white-space: nowrap; }
        .level-low { background: var(--low); } .level-medium { background: var(--medium); }
        .level-high { background: var(--high); } .level-critical { background: var(--critical); }
        .badge.sandbox { background: #5b3fa8; }
        .filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 12px; }
        .table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
        table { border-collapse: collapse; width: 100%; }
        caption { text-align: left; padding: 10px 12px; color: var(--muted); }
        th, td { text-align: left; padding: 8px 12px; border-top: 1px solid var(--line); vertical-align: top; }
        th { font-size: 13px; color: var(--muted); font-weight: 600; }
        td.wrap { overflow-wrap: anywhere; max-width: 260px; }
        .empty { color: var(--muted); text-align: center; padding: 20px; }
        .payload { background: #0f1720; color: #e6edf3; padding: 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px; }
        .payload details { display: inline; } .payload summary { display: inline; cursor: pointer; color: #9ecbff; }
        .digest code, .scopes code { overflow-wrap: anywhere; }
        .agent-words blockquote { margin: 0 0 8px; padding: 8px 12px; border-left: 4px solid #8a93a3; background: #f1f3f6; font-style: italic; }
        .impact { font-size: 17px; font-weight: 500; }
        .source { color: var(--muted); font-size: 14px; }
        .reasons li { margin-bottom: 4px; }
        .decide { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
        .confirm-text { font-family: ui-monospace, monospace; background: #f1f3f6; padding: 0 4px; }
        .state { font-weight: 600; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
        .narrow-form { max-width: 460px; margin-top: 14px; }
        .notice.ok { background: #e9f6ee; border-color: #3c8c5a; }
        .key-once code { font-size: 15px; overflow-wrap: anywhere; }
        table.audit td code { font-size: 12px; } table.audit td:last-child { min-width: 240px; }
        textarea#arguments { font-family: ui-monospace, monospace; font-size: 14px; }
        .diff pre { margin: 0; }
        summary { cursor: pointer; font-weight: 600; }
        kbd { font-size: 12px; border: 1px solid currentColor; border-radius: 3px; padding: 0 4px; margin-left: 4px; opacity: .8; }
        @media (max-width: 640px) {
          main { padding: 12px; } .decide { grid-template-columns: 1fr; }
          th:nth-child(6), td:nth-child(6), th:nth-child(3), td:nth-child(3) { display: none; }
          .signout { margin-left: 0; }
        }
        """

    static let javascript = """
        "use strict";
        (function () {
          function remaining(seconds) {
            if (seconds <= 0) return "expired";
            var m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
            if (m >= 60) return Math.floor(m / 60) + " h " + (m % 60) + " min";
            return m + " min " + (s < 10 ? "0" : "") + s + " s";
          }
          function tick() {
            document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
              var left = (Date.parse(el.getAttribute("data-expires")) - Date.now()) / 1000;
              el.textContent = remaining(left);
            });
          }
          setInterval(tick, 1000);
          tick();

          var rows = document.getElementById("rows");
          if (rows && window.EventSource) {
            var status = document.getElementById("live-status");
            var source = new EventSource("/inbox/events");
            var refresh = function () {
              fetch(rows.getAttribute("data-live"), { credentials: "same-origin" })
                .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
                .then(function (html) { rows.innerHTML = html; tick(); if (status) status.textContent = "Updated " + new Date().toLocaleTimeString(); })
                .catch(function () {});
            };
            source.addEventListener("changed", refresh);
            source.addEventListener("open", function () { if (status) status.textContent = "Live"; });
          }

          document.querySelectorAll("button[data-confirm]").forEach(function (button) {
            button.form.addEventListener("submit", function (event) {
              if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
            });
          });

          document.addEventListener("keydown", function (event) {
            var target = event.target;
            if (event.ctrlKey || event.metaKey || event.altKey) return;
            if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
            var approve = document.getElementById("approve"), reason = document.getElementById("reason");
            if (event.key === "a" && approve) {
              event.preventDefault();
              var first = approve.form.querySelector("input:not([type=hidden])");
              if (first) first.focus(); else approve.form.requestSubmit(approve);
            } else if (event.key === "d" && reason) {
              event.preventDefault();
              reason.focus();
            }
          });
        })();
        """
}

/// The payload as HTML: pretty JSON, every character escaped, long strings folded but reachable.
enum PayloadHTML {
    static let foldAfter = 160

    static func render(_ value: JSONValue) -> String {
        var output = ""
        write(value, depth: 0, into: &output)
        return output
    }

    static func escape(_ text: String) -> String { HTML.escape(text) }

    private static func write(_ value: JSONValue, depth: Int, into output: inout String) {
        let indent = String(repeating: "  ", count: depth + 1)
        let closing = String(repeating: "  ", count: depth)
        switch value {
        case .object(let members) where !members.isEmpty:
            output += "{\n"
            let keys = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (index, key) in keys.enumerated() {
                output += indent + escape(CanonicalJSON.string(.string(key))) + ": "
                write(members[key]!, depth: depth + 1, into: &output)
                output += index < keys.count - 1 ? ",\n" : "\n"
            }
            output += closing + "}"
        case .array(let elements) where !elements.isEmpty:
            output += "[\n"
            for (index, element) in elements.enumerated() {
                output += indent
                write(element, depth: depth + 1, into: &output)
                output += index < elements.count - 1 ? ",\n" : "\n"
            }
            output += closing + "]"
        case .string(let text) where text.count > foldAfter:
            let literal = CanonicalJSON.string(value)
            let head = String(literal.prefix(foldAfter))
            output +=
                escape(head) + "<details><summary>… \(literal.count - foldAfter) more characters</summary>"
                + escape(String(literal.dropFirst(foldAfter))) + "</details>"
        default:
            output += escape(CanonicalJSON.string(value))
        }
    }
}
