// TrainingSetupException.cs — a training run cannot start or continue because of what it was given
// (settings, output folder, checkpoint): one line naming the argument or file and the problem, which
// the command line prints unchanged before exiting non-zero.
namespace LoRAPrune.Core.Training;

public sealed class TrainingSetupException(string message) : Exception(message);
