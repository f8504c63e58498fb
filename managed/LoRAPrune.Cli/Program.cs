// Program.cs — entry point of the `loraprune` command-line tool: runs the command the arguments
// select (LoRAPruneCommand.Run). Commands live one per class under Commands/.
using LoRAPrune.Cli;

return LoRAPruneCommand.Run(args);
