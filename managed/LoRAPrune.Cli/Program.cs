// Program.cs — entry point of the `loraprune` command-line tool: builds the command tree and runs
// the command the arguments select. Commands live one per class under Commands/.
using LoRAPrune.Cli;

return LoRAPruneCommand.Create().Parse(args).Invoke();
