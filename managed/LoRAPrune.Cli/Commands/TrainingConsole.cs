// TrainingConsole.cs — what the training commands (finetune, pretrain) share on the console: the backend
// choice, a Spectre progress bar on a terminal or about 100 plain step lines otherwise, and SIGINT/SIGTERM
// turned into "finish this step, write a checkpoint, exit 130".
using System.Globalization;
using System.Runtime.InteropServices;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal static class TrainingConsole
{
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130;

    /// <summary>The backend --device names ("auto": cuda when it has a device, else cpu); null after writing why it cannot be used.</summary>
    public static Backend? SelectBackend(string command, string choice, TextWriter error)
    {
        if (choice == "auto")
        {
            if (Backend.TryLoad("cuda", out Backend? cuda, out _) && cuda!.DeviceCount > 0) return cuda;
            choice = "cpu";
        }
        if (!Backend.TryLoad(choice, out Backend? backend, out string trace))
        {
            error.WriteLine($"{command}: --device {choice}: the backend is not available (run `loraprune devices --trace` to see why)");
            error.WriteLine(trace);
            return null;
        }
        if (backend!.DeviceCount == 0)
        {
            error.WriteLine($"{command}: --device {choice}: the backend loads but reports no device");
            return null;
        }
        return backend;
    }

    /// <summary>Runs the training steps with a progress bar on a terminal, plain step lines otherwise.</summary>
    public static T RunSteps<T>(Terminal terminal, long startStep, long totalSteps, CancellationToken stop, Func<Action<StepReport, double?>, T> run) =>
        terminal.Rich is not null
            ? RunWithProgressBar(terminal.Rich, startStep, totalSteps, run)
            : RunWithLines(terminal.Out, totalSteps, stop, run);

    /// <summary>The errors a training run reports as one line with exit code 1 (bad model, data, tokenizer,
    /// checkpoint or files, and native failures); anything else is a bug and propagates.</summary>
    public static bool IsRunFailure(Exception e) =>
        e is TrainingSetupException or ModelFormatException or DataFileException or TokenizerFileException or NativeException
            or IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException;

    /// <summary>Runs <paramref name="run"/> (given the per-step callback) under a Spectre progress bar.</summary>
    public static T RunWithProgressBar<T>(IAnsiConsole console, long startStep, long totalSteps, Func<Action<StepReport, double?>, T> run)
    {
        T? outcome = default;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                ProgressTask task = ctx.AddTask(Markup.Escape($"step {startStep}/{totalSteps}"), maxValue: totalSteps);
                task.Value = startStep;
                double? lastEval = null;
                outcome = run((report, eval) =>
                {
                    lastEval = eval ?? lastEval;
                    task.Value = report.Step;
                    task.Description = Markup.Escape(
                        $"{report.Step}/{totalSteps} loss {MetricsLog.Format(report.Loss, "F3")} " +
                        (lastEval is { } e ? $"eval {MetricsLog.Format(e, "F3")} " : "") +
                        $"{report.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s");
                });
            });
        return outcome!;
    }

    /// <summary>Runs <paramref name="run"/> writing a plain line about every 1% of the steps, at evaluations and on a stop.</summary>
    public static T RunWithLines<T>(TextWriter output, long totalSteps, CancellationToken stop, Func<Action<StepReport, double?>, T> run)
    {
        long every = Math.Max(1, (totalSteps + 99) / 100);
        double seconds = 0;
        long done = 0;
        return run((report, eval) =>
        {
            seconds += report.Seconds;
            done++;
            if (report.Step % every != 0 && report.Step != totalSteps && eval is null && !stop.IsCancellationRequested) return;
            TimeSpan eta = TimeSpan.FromSeconds(seconds / done * (totalSteps - report.Step));
            output.WriteLine($"{StepLine(report, totalSteps, eval)}  eta {eta:hh\\:mm\\:ss}");
            output.Flush();
        });
    }

    private static string StepLine(StepReport r, long total, double? eval) =>
        $"step {r.Step}/{total}  loss {MetricsLog.Format(r.Loss)}  grad {MetricsLog.Format(r.GradNorm)}  " +
        $"lr {r.LearningRate.ToString("0.00e+00", CultureInfo.InvariantCulture)}  {r.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s" +
        (eval is { } e ? $"  eval {MetricsLog.Format(e)}" : "");

    /// <summary>An exception message as one line.</summary>
    public static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>SIGINT/SIGTERM handling: the first signal asks the run to stop after the current step (it then
    /// writes a checkpoint and exits 130); a second one is left to terminate the process.</summary>
    public sealed class SignalWatch : IDisposable
    {
        private readonly List<PosixSignalRegistration> _registrations = new();

        public static SignalWatch Install(string command, CancellationTokenSource stop, TextWriter error)
        {
            var watch = new SignalWatch();
            foreach (PosixSignal signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            {
                watch._registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    if (stop.IsCancellationRequested) return;
                    context.Cancel = true;
                    error.WriteLine($"{command}: {context.Signal}: finishing the current step, then writing a checkpoint (signal again to quit at once)");
                    stop.Cancel();
                }));
            }
            return watch;
        }

        public void Dispose()
        {
            foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        }
    }
}
