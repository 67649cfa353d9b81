/// The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json` (a copy is `docs/openapi.json`).
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Countersign",
            "version": "0.1.0",
            "description": "Agents propose actions; Countersign rates their risk, holds them for a human where policy says so, and executes them itself with a just-in-time token. Errors are RFC 9457 problem documents. While the database cannot be reached, every endpoint answers 503 (\"Database unavailable\") and nothing is recorded, decided or executed."
          },
          "servers": [
            {
              "url": "http://127.0.0.1:8787"
            }
          ],
          "components": {
            "securitySchemes": {
              "agentKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An agent's API key (csk_\u2026), from `countersign agents create NAME`."
              },
              "approverToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "An approver's personal token (cst_\u2026), from `countersign users token EMAIL`."
              }
            },
            "schemas": {
              "Problem": {
                "type": "object",
                "required": [
                  "type",
                  "title",
                  "status",
                  "detail"
                ],
                "properties": {
                  "type": {
                    "type": "string"
                  },
                  "title": {
                    "type": "string"
                  },
                  "status": {
                    "type": "integer"
                  },
                  "detail": {
                    "type": "string"
                  },
                  "violations": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "path": {
                          "type": "string"
                        },
                        "keyword": {
                          "type": "string"
                        },
                        "message": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              },
              "Proposal": {
                "type": "object",
                "required": [
                  "operation",
                  "onBehalfOf"
                ],
                "additionalProperties": false,
                "properties": {
                  "operation": {
                    "type": "string",
                    "pattern": "^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*$",
                    "examples": [
                      "files.write"
                    ]
                  },
                  "arguments": {
                    "type": "object",
                    "description": "Checked against the operation's JSON Schema (GET /v1/catalog)."
                  },
                  "onBehalfOf": {
                    "type": "string",
                    "description": "The person the action is taken for."
                  },
                  "idempotencyKey": {
                    "type": "string",
                    "maxLength": 200,
                    "description": "Same key and same action: the same request. Same key, other action: 409."
                  },
                  "runID": {
                    "type": "string",
                    "maxLength": 200
                  },
                  "reason": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": "The agent's own words; shown to approvers as such, never as the impact."
                  }
                }
              },
              "Reason": {
                "type": "object",
                "required": [
                  "source",
                  "name",
                  "level",
                  "text"
                ],
                "properties": {
                  "source": {
                    "enum": [
                      "operation",
                      "hint",
                      "rule",
                      "signal",
                      "policy"
                    ]
                  },
                  "name": {
                    "type": "string"
                  },
                  "level": {
                    "$ref": "#/components/schemas/Level"
                  },
                  "text": {
                    "type": "string"
                  }
                }
              },
              "Level": {
                "enum": [
                  "low",
                  "medium",
                  "high",
                  "critical"
                ]
              },
              "ActionRequest": {
                "type": "object",
                "required": [
                  "id",
                  "state",
                  "digest",
                  "operation",
                  "arguments",
                  "onBehalfOf",
                  "agent",
                  "risk",
                  "decision",
                  "requirements",
                  "impact",
                  "scopes",
                  "createdAt",
                  "expiresAt"
                ],
                "properties": {
                  "id": {
                    "type": "string"
                  },
                  "state": {
                    "enum": [
                      "pending",
                      "approved",
                      "auto_approved",
                      "executing",
                      "executed",
                      "failed",
                      "denied",
                      "expired",
                      "rejected",
                      "outcome_unknown"
                    ]
                  },
                  "digest": {
                    "type": "string",
                    "pattern": "^sha256:[0-9a-f]{64}$",
                    "description": "SHA-256 of the RFC 8785 canonical JSON of {operation, arguments, principal, agent}: what a human approves."
                  },
                  "operation": {
                    "type": "string"
                  },
                  "arguments": {
                    "type": "object"
                  },
                  "onBehalfOf": {
                    "type": "string"
                  },
                  "agent": {
                    "type": "string"
                  },
                  "risk": {
                    "type": "object",
                    "required": [
                      "level",
                      "reasons"
                    ],
                    "properties": {
                      "level": {
                        "$ref": "#/components/schemas/Level"
                      },
                      "reasons": {
                        "type": "array",
                        "items": {
                          "$ref": "#/components/schemas/Reason"
                        }
                      }
                    }
                  },
                  "decision": {
                    "enum": [
                      "allow",
                      "ask",
                      "deny"
                    ]
                  },
                  "requirements": {
                    "type": "object",
                    "properties": {
                      "approvals": {
                        "type": "integer"
                      },
                      "stepUp": {
                        "type": "boolean"
                      },
                      "confirmText": {
                        "type": "string"
                      },
                      "allowSelfApproval": {
                        "type": "boolean"
                      },
                      "ttlSeconds": {
                        "type": "integer"
                      },
                      "clientApproval": {
                        "type": "boolean",
                        "description": "The principal may approve in the agent's own MCP client (POST /v1/actions/{id}/client-decision). Only ever true for a Low or Medium request that policy permits it for."
                      }
                    }
                  },
                  "impact": {
                    "type": "string",
                    "description": "Written by the connector from the arguments."
                  },
                  "scopes": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    }
                  },
                  "agentReason": {
                    "type": "string"
                  },
                  "runID": {
                    "type": "string"
                  },
                  "createdAt": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "expiresAt": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "result": {
                    "description": "The connector's result, once executed."
                  },
                  "failure": {
                    "type": "string",
                    "description": "Why it was rejected, denied, expired or failed."
                  },
                  "approvalURL": {
                    "type": "string",
                    "format": "uri",
                    "description": "While pending: the approval page, which the agent may hand to a person. It grants nothing by itself."
                  },
                  "edited": {
                    "type": "object",
                    "description": "Present when an approver edited the arguments before approving: who, when, which arguments changed (JSON Pointers) and what the agent had proposed. `arguments` and `digest` are the edited ones.",
                    "properties": {
                      "by": {
                        "type": "string"
                      },
                      "at": {
                        "type": "string",
                        "format": "date-time"
                      },
                      "changed": {
                        "type": "array",
                        "items": {
                          "type": "string"
                        }
                      },
                      "originalArguments": {
                        "type": "object"
                      },
                      "originalDigest": {
                        "type": "string"
                      }
                    }
                  },
                  "sandbox": {
                    "type": "string",
                    "description": "Present when the operation runs against a sandbox that ships with Countersign (e.g. \"GitHub sandbox\"), never the real service."
                  }
                }
              },
              "Approval": {
                "allOf": [
                  {
                    "$ref": "#/components/schemas/ActionRequest"
                  }
                ],
                "type": "object",
                "properties": {
                  "decisions": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "approver": {
                          "type": "string"
                        },
                        "verdict": {
                          "enum": [
                            "approve",
                            "deny"
                          ]
                        },
                        "decidedAt": {
                          "type": "string",
                          "format": "date-time"
                        },
                        "authentication": {
                          "enum": [
                            "password",
                            "totp",
                            "oidc",
                            "api_token",
                            "mcp_client"
                          ]
                        },
                        "reason": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "approvals": {
                    "type": "object",
                    "properties": {
                      "given": {
                        "type": "integer"
                      },
                      "required": {
                        "type": "integer"
                      }
                    }
                  },
                  "token": {
                    "description": "For an operation that needs a connected account's token: where the vault gets it. `broadSource` marks the Auth0 Management API, which reads tokens wholesale; `narrowed: false` means the token carries every scope the account granted, not only `scopes`.",
                    "type": "object",
                    "required": [
                      "provider",
                      "source"
                    ],
                    "properties": {
                      "provider": {
                        "type": "string"
                      },
                      "displayName": {
                        "type": "string"
                      },
                      "source": {
                        "enum": [
                          "oauth",
                          "auth0",
                          "auth0-management",
                          "none"
                        ]
                      },
                      "narrowed": {
                        "type": "boolean"
                      },
                      "broadSource": {
                        "type": "boolean"
                      }
                    }
                  }
                }
              },
              "Health": {
                "type": "object",
                "required": [
                  "status",
                  "vault"
                ],
                "properties": {
                  "status": {
                    "enum": [
                      "ok",
                      "unavailable"
                    ]
                  },
                  "vault": {
                    "type": "object",
                    "required": [
                      "state"
                    ],
                    "properties": {
                      "state": {
                        "enum": [
                          "unsealed",
                          "sealed",
                          "absent"
                        ]
                      },
                      "reason": {
                        "type": "string"
                      }
                    }
                  },
                  "database": {
                    "type": "object",
                    "required": [
                      "kind",
                      "state"
                    ],
                    "properties": {
                      "kind": {
                        "enum": [
                          "sqlite",
                          "postgresql"
                        ]
                      },
                      "state": {
                        "enum": [
                          "ok",
                          "unavailable"
                        ]
                      },
                      "reason": {
                        "type": "string",
                        "description": "Why the database is unavailable: its host and port, never its password."
                      }
                    }
                  }
                }
              },
              "RunStep": {
                "type": "object",
                "required": [
                  "index",
                  "operation",
                  "arguments",
                  "rationale",
                  "dependsOn",
                  "state"
                ],
                "properties": {
                  "index": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "operation": {
                    "type": "string",
                    "description": "connector.operation, from GET /v1/catalog."
                  },
                  "arguments": {
                    "type": "object"
                  },
                  "rationale": {
                    "type": "string",
                    "description": "Why the planner proposes the step: its own words, shown to the approver as such (never as the impact)."
                  },
                  "dependsOn": {
                    "type": "array",
                    "items": {
                      "type": "integer",
                      "minimum": 0
                    },
                    "description": "Earlier steps that must execute first."
                  },
                  "state": {
                    "enum": [
                      "planned",
                      "proposed",
                      "executed",
                      "failed",
                      "skipped"
                    ]
                  },
                  "requestID": {
                    "type": "string",
                    "description": "The step's request (GET /v1/actions/{id}), once proposed."
                  },
                  "requestState": {
                    "type": "string",
                    "description": "Its request's state when the step last changed: when it was proposed, then its outcome (GET /v1/actions/{id} has the live state)."
                  },
                  "failure": {
                    "type": "string"
                  }
                }
              },
              "Run": {
                "type": "object",
                "required": [
                  "id",
                  "goal",
                  "onBehalfOf",
                  "agent",
                  "planner",
                  "state",
                  "steps",
                  "createdAt",
                  "updatedAt",
                  "version"
                ],
                "properties": {
                  "id": {
                    "type": "string",
                    "pattern": "^run_[0-9a-f]{24}$"
                  },
                  "goal": {
                    "type": "string"
                  },
                  "onBehalfOf": {
                    "type": "string"
                  },
                  "agent": {
                    "type": "string"
                  },
                  "planner": {
                    "type": "string",
                    "description": "`file` for a written plan, else the planner model's name."
                  },
                  "state": {
                    "enum": [
                      "running",
                      "completed",
                      "failed"
                    ]
                  },
                  "failure": {
                    "type": "string",
                    "description": "Why the run failed: for a written plan, which step did not execute and why (a denial's reason included); for a planner model, the model's failure or its turn limit."
                  },
                  "createdAt": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "updatedAt": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "steps": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/RunStep"
                    }
                  },
                  "summary": {
                    "type": "string",
                    "description": "A planner model's last words once it finished: its own words, shown as such."
                  },
                  "version": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many times the run was checkpointed; changes at every step proposed, decided or executed."
                  }
                }
              }
            },
            "responses": {
              "MCP": {
                "description": "A JSON-RPC response, or a Server-Sent Events stream of messages.",
                "content": {
                  "application/json": {},
                  "text/event-stream": {}
                }
              },
              "Problem": {
                "description": "A problem document.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          },
          "paths": {
            "/healthz": {
              "get": {
                "summary": "Liveness, whether the vault is sealed, and whether the database answers",
                "responses": {
                  "200": {
                    "description": "The server runs. `vault.state` is `sealed` (with the reason) when no master key opens the vault: nothing that needs a connected account's token can run. `database` says whether the database answers.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        }
                      }
                    }
                  },
                  "503": {
                    "description": "The database does not answer (`status` and `database.state` are `unavailable`): a load balancer should send nothing here. Any other endpoint answers 503 with a problem document titled \"Database unavailable\" meanwhile; nothing is recorded, decided or executed.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/mcp": {
              "post": {
                "summary": "MCP over streamable HTTP: the catalog as gated tools",
                "description": "The Model Context Protocol (2025-11-25) with the agent's key as a bearer token on every request; an MCP session id only routes, and a session answers only the agent that opened it. `onBehalfOf` names the principal (required to open a session); `maxWait` (1\u20133600 s, default 600) bounds how long a tool call waits for a human before it returns the request id.",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "onBehalfOf",
                    "in": "query",
                    "schema": {
                      "type": "string",
                      "format": "email"
                    }
                  },
                  {
                    "name": "maxWait",
                    "in": "query",
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 3600
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "$ref": "#/components/responses/MCP"
                  },
                  "202": {
                    "description": "A notification or response was accepted."
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              },
              "get": {
                "summary": "MCP: the session's stream of server messages",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "responses": {
                  "200": {
                    "$ref": "#/components/responses/MCP"
                  },
                  "202": {
                    "description": "A notification or response was accepted."
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              },
              "delete": {
                "summary": "MCP: end the session",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "responses": {
                  "200": {
                    "$ref": "#/components/responses/MCP"
                  },
                  "202": {
                    "description": "A notification or response was accepted."
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/oauth/start": {
              "get": {
                "summary": "Open a connect link in the principal's browser",
                "description": "The link printed by `countersign connections connect`. Opens once: sets an HttpOnly, SameSite=Lax cookie that binds the flow to this browser and redirects to the provider's consent screen with a single-use `state` and a PKCE S256 challenge.",
                "parameters": [
                  {
                    "name": "flow",
                    "in": "query",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "key",
                    "in": "query",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "302": {
                    "description": "To the provider's authorization endpoint."
                  },
                  "400": {
                    "description": "An HTML page: the link is unknown, used or expired.",
                    "content": {
                      "text/html": {}
                    }
                  }
                }
              }
            },
            "/oauth/callback": {
              "get": {
                "summary": "The provider's redirect back: finishes connecting the account",
                "description": "Checks the `state` (single use, issued to this browser's cookie), the issuer (`iss`, RFC 9207) where the provider names one, exchanges the code with the PKCE verifier at the exact redirect URI, and records the connection with its refresh token sealed.",
                "parameters": [
                  {
                    "name": "code",
                    "in": "query",
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "state",
                    "in": "query",
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "iss",
                    "in": "query",
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "error",
                    "in": "query",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "An HTML page: the account is connected.",
                    "content": {
                      "text/html": {}
                    }
                  },
                  "400": {
                    "description": "An HTML page: nothing was connected, and why.",
                    "content": {
                      "text/html": {}
                    }
                  }
                }
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document",
                "responses": {
                  "200": {
                    "description": "OpenAPI 3.1",
                    "content": {
                      "application/json": {}
                    }
                  }
                }
              }
            },
            "/v1/catalog": {
              "get": {
                "summary": "The operations an agent may propose",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "Operations with their argument schemas, scopes and default levels.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "properties": {
                            "operations": {
                              "type": "array",
                              "items": {
                                "type": "object",
                                "properties": {
                                  "operation": {
                                    "type": "string"
                                  },
                                  "summary": {
                                    "type": "string"
                                  },
                                  "argumentsSchema": {
                                    "type": "object"
                                  },
                                  "scopes": {
                                    "type": "array",
                                    "items": {
                                      "type": "string"
                                    }
                                  },
                                  "defaultLevel": {
                                    "$ref": "#/components/schemas/Level"
                                  },
                                  "reversible": {
                                    "type": "boolean"
                                  },
                                  "readOnly": {
                                    "type": "boolean"
                                  },
                                  "undo": {
                                    "type": "boolean",
                                    "description": "Whether Countersign can undo an executed action of it (POST /v1/actions/{id}/undo)."
                                  },
                                  "sandbox": {
                                    "type": "string",
                                    "description": "Present when the operation runs against a sandbox that ships with Countersign (e.g. \"Slack sandbox\"); its summary and every impact say so too."
                                  }
                                }
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/actions": {
              "get": {
                "summary": "This agent's requests, newest first",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "state",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "string"
                    },
                    "description": "Comma-separated states to include (all when absent), e.g. pending,approved."
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 200,
                      "default": 50
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The requests.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "actions"
                          ],
                          "properties": {
                            "actions": {
                              "type": "array",
                              "items": {
                                "$ref": "#/components/schemas/ActionRequest"
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              },
              "post": {
                "summary": "Propose an action",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/Proposal"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "Recorded: executed at once when policy allows it (the result is in the body), pending when it waits for a human.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ActionRequest"
                        }
                      }
                    }
                  },
                  "403": {
                    "description": "Policy denied it (state rejected; the reasons are in the body).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ActionRequest"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "409": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/actions/{id}": {
              "get": {
                "summary": "A request made by this agent; with wait, a long-poll",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "wait",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 60
                    },
                    "description": "Seconds to wait for the state to change; answers as soon as it does."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The request.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ActionRequest"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/actions/{id}/events": {
              "get": {
                "summary": "The request's state now and at every change, as Server-Sent Events (`event: state`, data: the request), until it is final",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "A stream of Server-Sent Events.",
                    "content": {
                      "text/event-stream": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/actions/{id}/undo": {
              "post": {
                "summary": "Propose the action that undoes an executed one",
                "description": "For an operation the catalog marks `undo: true` (closing an issue one opened, deleting a message one posted\u2026). The undo is a new request, authorized like any other; asking again returns the same one.",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "201": {
                    "description": "The undo request.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ActionRequest"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "403": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "409": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/actions/{id}/client-decision": {
              "post": {
                "summary": "Record the principal's answer given in the agent's own MCP client",
                "description": "For a request whose policy permits approval in the client (requirements.clientApproval: Low or Medium, one approver, no step-up or confirmation text, self-approval allowed), the agent relays the principal's decision from a form it showed them. Recorded as the principal's decision with authentication mcp_client; refused with code client_approval_not_permitted otherwise, and the request waits for an approver.",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "verdict",
                          "digest"
                        ],
                        "properties": {
                          "verdict": {
                            "enum": [
                              "approve",
                              "deny"
                            ]
                          },
                          "digest": {
                            "type": "string",
                            "description": "The digest of the payload the person was shown."
                          },
                          "reason": {
                            "type": "string"
                          }
                        }
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "Decided.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ActionRequest"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "403": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "409": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals": {
              "get": {
                "summary": "Requests for approvers to review, newest first",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "parameters": [
                  {
                    "name": "state",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "string"
                    },
                    "description": "`pending` (the default), `all`, or a comma-separated list of states."
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 1000
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The requests.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "properties": {
                            "requests": {
                              "type": "array",
                              "items": {
                                "$ref": "#/components/schemas/ActionRequest"
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals/events": {
              "get": {
                "summary": "Every pending request, then every change to any request, as Server-Sent Events (`event: request`)",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "A stream of Server-Sent Events.",
                    "content": {
                      "text/event-stream": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals/{id}": {
              "get": {
                "summary": "A request with the decisions recorded so far",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The request.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Approval"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals/{id}/approve": {
              "post": {
                "summary": "Approve, bound to the digest reviewed; High needs the confirmation text, Critical a fresh TOTP code (each code works once)",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "digest"
                        ],
                        "properties": {
                          "digest": {
                            "type": "string",
                            "pattern": "^sha256:[0-9a-f]{64}$"
                          },
                          "confirm": {
                            "type": "string"
                          },
                          "otp": {
                            "type": "string",
                            "pattern": "^[0-9 ]{6,8}$"
                          }
                        }
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "The decision was recorded; the request is approved, or still pending when it needs more approvers.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Approval"
                        }
                      }
                    }
                  },
                  "403": {
                    "description": "Refused: confirmation text, step-up or self-approval (code in the problem: confirmation_mismatch, step_up_required, step_up_failed, self_approval).",
                    "content": {
                      "application/problem+json": {
                        "schema": {
                          "$ref": "#/components/schemas/Problem"
                        }
                      }
                    }
                  },
                  "409": {
                    "description": "Refused: digest_mismatch, already_decided, expired or duplicate_approver.",
                    "content": {
                      "application/problem+json": {
                        "schema": {
                          "$ref": "#/components/schemas/Problem"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals/{id}/deny": {
              "post": {
                "summary": "Deny with a reason, which the agent receives",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "reason"
                        ],
                        "properties": {
                          "reason": {
                            "type": "string"
                          },
                          "digest": {
                            "type": "string"
                          }
                        }
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "Denied.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Approval"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "409": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/approvals/{id}/extend": {
              "post": {
                "summary": "Move a pending request's expiry later",
                "security": [
                  {
                    "approverToken": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "minutes"
                        ],
                        "properties": {
                          "minutes": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1440
                          }
                        }
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "Extended.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Approval"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "409": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "413": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/runs": {
              "post": {
                "summary": "Start a run: a goal carried out as a plan of gated actions",
                "description": "Each step is proposed like any action (same intake, assessment and approval) with the idempotency key run:<id>:<index>, when the steps it depends on have executed; independent steps are proposed together. The run is checkpointed after every change and resumes after a restart. With a written plan, a step that does not execute (denied, expired, failed\u2026) ends the run as failed; the steps after it are not proposed. With a planner model, the steps of each of its turns are proposed together; once they have ended, each one's outcome goes back to the model (a result with secrets removed, or a denial with the approver's reason) and it proposes more, or finishes; nothing the model says sets a step's risk or impact.",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "type": "object",
                        "required": [
                          "goal",
                          "onBehalfOf"
                        ],
                        "additionalProperties": false,
                        "properties": {
                          "goal": {
                            "type": "string",
                            "maxLength": 4000
                          },
                          "onBehalfOf": {
                            "type": "string",
                            "maxLength": 256
                          },
                          "plan": {
                            "description": "The steps (at most 100), or an object with steps: a written plan, used as it is. Give either plan or planner.",
                            "oneOf": [
                              {
                                "type": "array",
                                "items": {
                                  "type": "object",
                                  "required": [
                                    "operation"
                                  ],
                                  "properties": {
                                    "operation": {
                                      "type": "string"
                                    },
                                    "arguments": {
                                      "type": "object"
                                    },
                                    "rationale": {
                                      "type": "string",
                                      "maxLength": 2000
                                    },
                                    "dependsOn": {
                                      "type": "array",
                                      "items": {
                                        "type": "integer",
                                        "minimum": 0
                                      }
                                    }
                                  }
                                }
                              },
                              {
                                "type": "object",
                                "required": [
                                  "steps"
                                ]
                              }
                            ]
                          },
                          "planner": {
                            "type": "string",
                            "description": "A planner model's name (set by an administrator with `countersign planners set`): the model proposes the steps a turn at a time and is told each one's outcome. Give either plan or planner."
                          }
                        },
                        "oneOf": [
                          {
                            "required": [
                              "plan"
                            ]
                          },
                          {
                            "required": [
                              "planner"
                            ]
                          }
                        ]
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The run, with its first steps proposed.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Run"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "422": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              },
              "get": {
                "summary": "This agent's runs, newest first",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "state",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "string"
                    },
                    "description": "all, or a comma-separated list of running, completed, failed."
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 200,
                      "default": 50
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The runs.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "runs"
                          ],
                          "properties": {
                            "runs": {
                              "type": "array",
                              "items": {
                                "$ref": "#/components/schemas/Run"
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/runs/{id}": {
              "get": {
                "summary": "A run: its plan and each step's state",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "wait",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 60
                    },
                    "description": "Seconds to wait for the run to change (a long-poll); answers as soon as its version differs from `version`, or it has ended."
                  },
                  {
                    "name": "version",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 0
                    },
                    "description": "With `wait`: the version the caller has seen (by default, the run's version now)."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The run.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Run"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "400": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            },
            "/v1/runs/{id}/events": {
              "get": {
                "summary": "The run now and at every change (a step proposed, decided, executed), as Server-Sent Events (`event: run`, data: the run), until it ends",
                "security": [
                  {
                    "agentKey": []
                  }
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "A stream of Server-Sent Events.",
                    "content": {
                      "text/event-stream": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Problem"
                  },
                  "404": {
                    "$ref": "#/components/responses/Problem"
                  }
                }
              }
            }
          }
        }
        """#
}
