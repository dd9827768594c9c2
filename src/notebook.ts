/**
 * Putting a cluster's client code into notebooks: insert into the active
 * notebook (opening a new one when there is none), or drag a cluster card
 * onto a notebook, which drops a code cell where it lands.
 */
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { CommandRegistry } from '@lumino/commands';
import { MimeData } from '@lumino/coreutils';
import { Drag } from '@lumino/dragdrop';

import { clientCode } from './format';

const CELLS_MIME = 'application/vnd.jupyter.cells';

/**
 * Insert the client code as a new code cell below the active cell and make it
 * the active cell.  An empty active code cell is filled instead.
 */
export async function insertClientCode(
  tracker: INotebookTracker,
  commands: CommandRegistry,
  cluster: { namespace: string; name: string }
): Promise<NotebookPanel> {
  let panel = tracker.currentWidget;
  if (!panel) {
    panel = (await commands.execute('notebook:create-new', {
      kernelName: 'python3'
    })) as NotebookPanel;
  }
  await panel.context.ready;
  const notebook = panel.content;
  const code = clientCode(cluster);
  const active = notebook.activeCell;
  const emptyCode =
    active && active.model.type === 'code' && active.model.sharedModel.getSource().trim() === '';
  if (!emptyCode) {
    NotebookActions.insertBelow(notebook);
    if (notebook.activeCell && notebook.activeCell.model.type !== 'code') {
      NotebookActions.changeCellType(notebook, 'code');
    }
  }
  notebook.activeCell!.model.sharedModel.setSource(code);
  notebook.mode = 'command';
  panel.activate();
  return panel;
}

/** Start a Lumino drag that a notebook accepts as a new code cell. */
export function startClusterDrag(
  cluster: { namespace: string; name: string },
  node: HTMLElement,
  clientX: number,
  clientY: number
): Promise<void> {
  const code = clientCode(cluster);
  const mimeData = new MimeData();
  mimeData.setData('text/plain', code);
  mimeData.setData(CELLS_MIME, [
    { cell_type: 'code', source: code, metadata: {}, outputs: [], execution_count: null }
  ]);
  const image = node.cloneNode(true) as HTMLElement;
  image.classList.add('dk8s-DragImage');
  image.style.width = `${node.offsetWidth}px`;
  const drag = new Drag({
    mimeData,
    dragImage: image,
    proposedAction: 'copy',
    supportedActions: 'copy',
    source: node
  });
  return drag.start(clientX, clientY).then(() => undefined);
}
