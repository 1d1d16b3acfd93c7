// Loads extension.js with stand-ins for the `vscode` API and vscode-languageclient, calls
// activate() and prints what the client would start, as JSON: the Python test
// (tests/unit/test_vscode_extension.py) checks it. Usage: node activate.test.js FOLDER [COMMAND]
"use strict";

const Module = require("module");
const path = require("path");

const [folder, configured] = process.argv.slice(2);
const started = [];
const settings = { "server.command": configured || "", "server.args": ["lsp"] };

const vscode = {
  workspace: {
    workspaceFolders: folder ? [{ uri: { fsPath: folder } }] : [],
    getConfiguration: () => ({ get: (key) => settings[key] }),
    createFileSystemWatcher: (glob) => ({ glob }),
  },
};

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    started.push({ id, server: serverOptions.run, selector: clientOptions.documentSelector });
  }
  start() {
    return Promise.resolve();
  }
  stop() {
    return Promise.resolve();
  }
}

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === "vscode") return vscode;
  if (request === "vscode-languageclient/node") return { LanguageClient };
  return load.call(this, request, parent, isMain);
};

const extension = require(path.join(__dirname, "..", "..", "extension.js"));
const context = { subscriptions: [] };
Promise.resolve(extension.activate(context)).then(() => {
  console.log(JSON.stringify({ started, subscriptions: context.subscriptions.length }));
});
