// A thin client: start `rhythm lsp` from the workspace's environment and let
// vscode-languageclient do the rest. Everything the editor shows comes from the server.
"use strict";

const fs = require("fs");
const path = require("path");
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

// The `rhythm` of the workspace's virtual environment if there is one, so that the server
// checks with the same Rhythm version the project builds with.
function serverCommand(folder) {
  const configured = vscode.workspace.getConfiguration("rhythm").get("server.command");
  if (configured) {
    return configured;
  }
  if (folder) {
    const candidates = [
      [".venv", "bin", "rhythm"], ["venv", "bin", "rhythm"],
      [".venv", "Scripts", "rhythm.exe"], ["venv", "Scripts", "rhythm.exe"],
    ];
    for (const parts of candidates) {
      const candidate = path.join(folder.uri.fsPath, ...parts);
      if (fs.existsSync(candidate)) {
        return candidate;
      }
    }
  }
  return "rhythm";
}

function activate(context) {
  const folder = (vscode.workspace.workspaceFolders || [])[0];
  const args = vscode.workspace.getConfiguration("rhythm").get("server.args") || ["lsp"];
  const run = {
    command: serverCommand(folder),
    args,
    options: { cwd: folder ? folder.uri.fsPath : undefined },
  };
  client = new LanguageClient(
    "rhythm",
    "Rhythm",
    { run, debug: run },
    {
      documentSelector: [{ scheme: "file", language: "flow" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{flow,py,toml}") },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
