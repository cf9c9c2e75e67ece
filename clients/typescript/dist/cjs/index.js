"use strict";
/**
 * warden-client: run untrusted code in warden's Linux sandboxes over its REST API.
 * Sessions with state and streamed output (`Sandbox`), one-shot runs (`execute`),
 * workspace files, function-calling tools for LLM agents, workflows, typed errors with
 * retries, and the code-runner contract of workflow engines (`./adapters`).
 *
 * @module
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.RISK_SETTINGS = exports.toCodeRunResult = exports.createCodeExecutor = exports.WardenSandboxManager = exports.WardenCodeRunner = exports.readEvents = exports.SSEParser = exports.DEFAULT_MAX_RETRY_DELAY = exports.DEFAULT_MAX_RETRIES = exports.DEFAULT_REQUEST_TIMEOUT = exports.DEFAULT_BASE_URL = exports.VERSION = exports.errorFromBody = exports.AbortError = exports.ProtocolError = exports.TimeoutError = exports.NetworkError = exports.UnavailableError = exports.QuotaExceededError = exports.RateLimitError = exports.SessionDeadError = exports.SessionBusyError = exports.SessionNotFoundError = exports.NotFoundError = exports.SecurityViolationError = exports.PermissionDeniedError = exports.AuthenticationError = exports.WorkflowInvalidError = exports.CodeSyntaxError = exports.InvalidRequestError = exports.WardenError = exports.SearchHit = exports.CollectionInfo = exports.RunList = exports.RunError = exports.Run = exports.WorkflowInfo = exports.WorkflowProblem = exports.Finding = exports.SessionInfo = exports.FileEntry = exports.ChangedFile = exports.ExecutionError = exports.Result = exports.Execution = exports.Workflows = exports.execute = exports.Files = exports.Sandbox = void 0;
var sandbox_js_1 = require("./sandbox.js");
Object.defineProperty(exports, "Sandbox", { enumerable: true, get: function () { return sandbox_js_1.Sandbox; } });
Object.defineProperty(exports, "Files", { enumerable: true, get: function () { return sandbox_js_1.Files; } });
Object.defineProperty(exports, "execute", { enumerable: true, get: function () { return sandbox_js_1.execute; } });
var workflows_js_1 = require("./workflows.js");
Object.defineProperty(exports, "Workflows", { enumerable: true, get: function () { return workflows_js_1.Workflows; } });
var models_js_1 = require("./models.js");
Object.defineProperty(exports, "Execution", { enumerable: true, get: function () { return models_js_1.Execution; } });
Object.defineProperty(exports, "Result", { enumerable: true, get: function () { return models_js_1.Result; } });
Object.defineProperty(exports, "ExecutionError", { enumerable: true, get: function () { return models_js_1.ExecutionError; } });
Object.defineProperty(exports, "ChangedFile", { enumerable: true, get: function () { return models_js_1.ChangedFile; } });
Object.defineProperty(exports, "FileEntry", { enumerable: true, get: function () { return models_js_1.FileEntry; } });
Object.defineProperty(exports, "SessionInfo", { enumerable: true, get: function () { return models_js_1.SessionInfo; } });
Object.defineProperty(exports, "Finding", { enumerable: true, get: function () { return models_js_1.Finding; } });
Object.defineProperty(exports, "WorkflowProblem", { enumerable: true, get: function () { return models_js_1.WorkflowProblem; } });
Object.defineProperty(exports, "WorkflowInfo", { enumerable: true, get: function () { return models_js_1.WorkflowInfo; } });
Object.defineProperty(exports, "Run", { enumerable: true, get: function () { return models_js_1.Run; } });
Object.defineProperty(exports, "RunError", { enumerable: true, get: function () { return models_js_1.RunError; } });
Object.defineProperty(exports, "RunList", { enumerable: true, get: function () { return models_js_1.RunList; } });
Object.defineProperty(exports, "CollectionInfo", { enumerable: true, get: function () { return models_js_1.CollectionInfo; } });
Object.defineProperty(exports, "SearchHit", { enumerable: true, get: function () { return models_js_1.SearchHit; } });
var errors_js_1 = require("./errors.js");
Object.defineProperty(exports, "WardenError", { enumerable: true, get: function () { return errors_js_1.WardenError; } });
Object.defineProperty(exports, "InvalidRequestError", { enumerable: true, get: function () { return errors_js_1.InvalidRequestError; } });
Object.defineProperty(exports, "CodeSyntaxError", { enumerable: true, get: function () { return errors_js_1.CodeSyntaxError; } });
Object.defineProperty(exports, "WorkflowInvalidError", { enumerable: true, get: function () { return errors_js_1.WorkflowInvalidError; } });
Object.defineProperty(exports, "AuthenticationError", { enumerable: true, get: function () { return errors_js_1.AuthenticationError; } });
Object.defineProperty(exports, "PermissionDeniedError", { enumerable: true, get: function () { return errors_js_1.PermissionDeniedError; } });
Object.defineProperty(exports, "SecurityViolationError", { enumerable: true, get: function () { return errors_js_1.SecurityViolationError; } });
Object.defineProperty(exports, "NotFoundError", { enumerable: true, get: function () { return errors_js_1.NotFoundError; } });
Object.defineProperty(exports, "SessionNotFoundError", { enumerable: true, get: function () { return errors_js_1.SessionNotFoundError; } });
Object.defineProperty(exports, "SessionBusyError", { enumerable: true, get: function () { return errors_js_1.SessionBusyError; } });
Object.defineProperty(exports, "SessionDeadError", { enumerable: true, get: function () { return errors_js_1.SessionDeadError; } });
Object.defineProperty(exports, "RateLimitError", { enumerable: true, get: function () { return errors_js_1.RateLimitError; } });
Object.defineProperty(exports, "QuotaExceededError", { enumerable: true, get: function () { return errors_js_1.QuotaExceededError; } });
Object.defineProperty(exports, "UnavailableError", { enumerable: true, get: function () { return errors_js_1.UnavailableError; } });
Object.defineProperty(exports, "NetworkError", { enumerable: true, get: function () { return errors_js_1.NetworkError; } });
Object.defineProperty(exports, "TimeoutError", { enumerable: true, get: function () { return errors_js_1.TimeoutError; } });
Object.defineProperty(exports, "ProtocolError", { enumerable: true, get: function () { return errors_js_1.ProtocolError; } });
Object.defineProperty(exports, "AbortError", { enumerable: true, get: function () { return errors_js_1.AbortError; } });
Object.defineProperty(exports, "errorFromBody", { enumerable: true, get: function () { return errors_js_1.errorFromBody; } });
var http_js_1 = require("./http.js");
Object.defineProperty(exports, "VERSION", { enumerable: true, get: function () { return http_js_1.VERSION; } });
Object.defineProperty(exports, "DEFAULT_BASE_URL", { enumerable: true, get: function () { return http_js_1.DEFAULT_BASE_URL; } });
Object.defineProperty(exports, "DEFAULT_REQUEST_TIMEOUT", { enumerable: true, get: function () { return http_js_1.DEFAULT_REQUEST_TIMEOUT; } });
Object.defineProperty(exports, "DEFAULT_MAX_RETRIES", { enumerable: true, get: function () { return http_js_1.DEFAULT_MAX_RETRIES; } });
Object.defineProperty(exports, "DEFAULT_MAX_RETRY_DELAY", { enumerable: true, get: function () { return http_js_1.DEFAULT_MAX_RETRY_DELAY; } });
var sse_js_1 = require("./sse.js");
Object.defineProperty(exports, "SSEParser", { enumerable: true, get: function () { return sse_js_1.SSEParser; } });
Object.defineProperty(exports, "readEvents", { enumerable: true, get: function () { return sse_js_1.readEvents; } });
var adapters_js_1 = require("./adapters.js");
Object.defineProperty(exports, "WardenCodeRunner", { enumerable: true, get: function () { return adapters_js_1.WardenCodeRunner; } });
Object.defineProperty(exports, "WardenSandboxManager", { enumerable: true, get: function () { return adapters_js_1.WardenSandboxManager; } });
Object.defineProperty(exports, "createCodeExecutor", { enumerable: true, get: function () { return adapters_js_1.createCodeExecutor; } });
Object.defineProperty(exports, "toCodeRunResult", { enumerable: true, get: function () { return adapters_js_1.toCodeRunResult; } });
Object.defineProperty(exports, "RISK_SETTINGS", { enumerable: true, get: function () { return adapters_js_1.RISK_SETTINGS; } });
